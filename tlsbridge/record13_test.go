package tlsbridge

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordPair is an established engine on the record layer and the peer's
// matching record layer, built from random secrets without a handshake.
type recordPair struct {
	eng  *engine
	peer *recordLayer
	buf  []byte
}

func newRecordPair(t testing.TB, ts *Server, suite uint16) *recordPair {
	t.Helper()
	s := suite13ByID(suite)
	require.NotNil(t, s)
	cs := make([]byte, s.hash().Size())
	ss := make([]byte, s.hash().Size())
	_, _ = rand.Read(cs)
	_, _ = rand.Read(ss)
	rl, err := newRecordLayer(suite, cs, ss, 0)
	require.NoError(t, err)
	peer, err := newRecordLayer(suite, ss, cs, 0)
	require.NoError(t, err)
	e := &engine{srv: ts, wakeFn: func() {}, state: Established, rl: rl}
	return &recordPair{eng: e, peer: peer, buf: make([]byte, 32<<10)}
}

// readAll drains the engine.
func (p *recordPair) readAll() ([]byte, error) {
	var got []byte
	for {
		n, err := p.eng.Read(p.buf)
		got = append(got, p.buf[:n]...)
		if err != nil || n == 0 {
			return got, err
		}
	}
}

// peerOpen decrypts every record the engine sent; handshake records are
// applied to the peer (KeyUpdate).
func (p *recordPair) peerOpen(t testing.TB) (data []byte, types []byte) {
	t.Helper()
	out := p.eng.AppendOutgoing(nil)
	for len(out) > 0 {
		n, rerr := parseHeader13(out)
		require.Nil(t, rerr)
		require.NotZero(t, n)
		typ, pt, rerr := p.peer.open(out[:n])
		require.Nil(t, rerr)
		types = append(types, typ)
		switch typ {
		case recordTypeApplicationData:
			data = append(data, pt...)
		case recordTypeHandshake:
			_, _, rerr := p.peer.handlePostHandshake(nil, pt)
			require.Nil(t, rerr)
		}
		out = out[n:]
	}
	return data, types
}

func TestRecordLayerSuites(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, s := range suites13 {
		t.Run(tls.CipherSuiteName(s.id), func(t *testing.T) {
			p := newRecordPair(t, ts, s.id)
			msg := bytes.Repeat([]byte("0123456789abcdef"), 3000) // 48000 bytes: 3 records
			var in []byte
			for c := msg; len(c) > 0; {
				m := min(len(c), maxPlaintext)
				in = p.peer.seal(in, recordTypeApplicationData, c[:m])
				c = c[m:]
			}
			require.NoError(t, p.eng.Feed(in))
			got, err := p.readAll()
			require.NoError(t, err)
			assert.Equal(t, msg, got)
			assert.Nil(t, p.eng.in, "input buffer returned when drained")

			require.NoError(t, p.eng.Write(msg))
			data, types := p.peerOpen(t)
			assert.Equal(t, msg, data)
			assert.Len(t, types, 3, "split into 16 KiB records")
			assert.Nil(t, p.eng.out, "output buffer returned after AppendOutgoing")
		})
	}
}

func TestRecordLayerKeyUpdate(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	ku := func(req byte) []byte { return []byte{handshakeTypeKeyUpdate, 0, 0, 1, req} }

	t.Run("update requested", func(t *testing.T) {
		p := newRecordPair(t, ts, tls.TLS_AES_128_GCM_SHA256)
		in := p.peer.seal(nil, recordTypeHandshake, ku(1))
		require.NoError(t, p.peer.out.update(p.peer.suite))
		in = p.peer.seal(in, recordTypeApplicationData, []byte("after update\n"))
		require.NoError(t, p.eng.Feed(in))
		got, err := p.readAll()
		require.NoError(t, err)
		assert.Equal(t, "after update\n", string(got))
		// The engine answered with its own KeyUpdate under the old key and
		// writes under the new one.
		require.NoError(t, p.eng.Write([]byte("reply\n")))
		data, types := p.peerOpen(t)
		assert.Equal(t, []byte{recordTypeHandshake, recordTypeApplicationData}, types)
		assert.Equal(t, "reply\n", string(data))
	})
	t.Run("not requested, fragmented", func(t *testing.T) {
		p := newRecordPair(t, ts, tls.TLS_CHACHA20_POLY1305_SHA256)
		in := p.peer.seal(nil, recordTypeHandshake, ku(0)[:2])
		in = p.peer.seal(in, recordTypeHandshake, ku(0)[2:])
		require.NoError(t, p.peer.out.update(p.peer.suite))
		in = p.peer.seal(in, recordTypeApplicationData, []byte("x"))
		require.NoError(t, p.eng.Feed(in))
		got, err := p.readAll()
		require.NoError(t, err)
		assert.Equal(t, "x", string(got))
		assert.Empty(t, p.eng.AppendOutgoing(nil), "no answer when not requested")
	})
}

func TestRecordLayerRejects(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	ts.freezeClock() // a burst is a burst however slow the machine
	tests := []struct {
		name  string
		build func(p *recordPair) []byte
		want  error
	}{
		{"replayed record", func(p *recordPair) []byte {
			r := p.peer.seal(nil, recordTypeApplicationData, []byte("once"))
			return append(r, r...)
		}, ErrBadRecord},
		{"no content type", func(p *recordPair) []byte {
			return p.peer.seal(nil, 0, []byte{0, 0, 0})
		}, ErrBadRecord},
		{"unknown inner type", func(p *recordPair) []byte {
			return p.peer.seal(nil, 99, []byte("x"))
		}, ErrBadRecord},
		{"inner change_cipher_spec", func(p *recordPair) []byte {
			return p.peer.seal(nil, recordTypeChangeCipherSpec, []byte{1})
		}, ErrBadRecord},
		{"NewSessionTicket from client", func(p *recordPair) []byte {
			return p.peer.seal(nil, recordTypeHandshake, []byte{4, 0, 0, 1, 0})
		}, ErrBadRecord},
		{"KeyUpdate bad length", func(p *recordPair) []byte {
			return p.peer.seal(nil, recordTypeHandshake, []byte{handshakeTypeKeyUpdate, 0, 0, 2, 0, 0})
		}, ErrBadRecord},
		{"KeyUpdate bad value", func(p *recordPair) []byte {
			return p.peer.seal(nil, recordTypeHandshake, []byte{handshakeTypeKeyUpdate, 0, 0, 1, 2})
		}, ErrBadRecord},
		{"KeyUpdate then data in one record", func(p *recordPair) []byte {
			return p.peer.seal(nil, recordTypeHandshake, []byte{handshakeTypeKeyUpdate, 0, 0, 1, 0, 22})
		}, ErrBadRecord},
		{"empty handshake record", func(p *recordPair) []byte {
			return p.peer.seal(nil, recordTypeHandshake, nil)
		}, ErrBadRecord},
		{"plaintext over 2^14", func(p *recordPair) []byte {
			return p.peer.seal(nil, recordTypeApplicationData, make([]byte, maxPlaintext+1))
		}, ErrBadRecord},
		{"outer plaintext alert", func(p *recordPair) []byte {
			return []byte{recordTypeAlert, 3, 3, 0, 2, 2, 40}
		}, ErrBadRecord},
		{"too short", func(p *recordPair) []byte {
			return []byte{recordTypeApplicationData, 3, 3, 0, 3, 1, 2, 3}
		}, ErrBadRecord},
		{"empty records past the burst", func(p *recordPair) []byte {
			var b []byte
			for i := 0; i < int(defaultPeerLimits()[abuseEmptyRecord].burst)+1; i++ {
				b = p.peer.seal(b, recordTypeApplicationData, nil)
			}
			return b
		}, ErrTooManyEmptyRecords},
		{"malformed alert", func(p *recordPair) []byte {
			return p.peer.seal(nil, recordTypeAlert, []byte{2})
		}, ErrBadRecord},
		{"fatal alert", func(p *recordPair) []byte {
			return p.peer.seal(nil, recordTypeAlert, []byte{alertLevelFatal, 40})
		}, ErrPeerAlert},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newRecordPair(t, ts, tls.TLS_AES_256_GCM_SHA384)
			require.NoError(t, p.eng.Feed(tc.build(p)))
			_, err := p.readAll()
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, Failed, p.eng.State())
			assert.ErrorIs(t, p.eng.Err(), tc.want)
			assert.Nil(t, p.eng.rl, "keys dropped after failure")
			assert.ErrorIs(t, p.eng.Write([]byte("x")), tc.want)
		})
	}
}

func TestRecordLayerAccepts(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	ts.freezeClock()
	t.Run("padding and a burst of empty records", func(t *testing.T) {
		p := newRecordPair(t, ts, tls.TLS_AES_128_GCM_SHA256)
		var in []byte
		for i := 0; i < int(defaultPeerLimits()[abuseEmptyRecord].burst); i++ {
			in = p.peer.seal(in, recordTypeApplicationData, nil)
		}
		// Padding: zeros after the content type byte are stripped.
		padded := append([]byte("padded"), recordTypeApplicationData, 0, 0, 0, 0)
		in = p.peer.seal(in, 0, padded[:len(padded)-1])
		require.NoError(t, p.eng.Feed(in))
		got, err := p.readAll()
		require.NoError(t, err)
		assert.Equal(t, "padded", string(got))
	})
	t.Run("close_notify", func(t *testing.T) {
		p := newRecordPair(t, ts, tls.TLS_AES_128_GCM_SHA256)
		in := p.peer.seal(nil, recordTypeApplicationData, []byte("bye"))
		in = p.peer.sealAlert(in, alertCloseNotify)
		require.NoError(t, p.eng.Feed(in))
		got, err := p.readAll()
		assert.Equal(t, "bye", string(got))
		assert.ErrorIs(t, err, io.EOF)
		assert.Equal(t, Closed, p.eng.State())
		assert.NoError(t, p.eng.Feed([]byte("ignored")))
	})
	t.Run("small reads of one record", func(t *testing.T) {
		p := newRecordPair(t, ts, tls.TLS_AES_128_GCM_SHA256)
		require.NoError(t, p.eng.Feed(p.peer.seal(nil, recordTypeApplicationData, []byte("abcdefg"))))
		var got []byte
		b := make([]byte, 2)
		for {
			n, err := p.eng.Read(b)
			require.NoError(t, err)
			if n == 0 {
				break
			}
			got = append(got, b[:n]...)
			// Feeding mid-record compacts the buffer without losing the
			// pending plaintext.
			require.NoError(t, p.eng.Feed(nil))
		}
		assert.Equal(t, "abcdefg", string(got))
	})
}

func TestKeyUpdateWithRealClient(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	h := established(t, ts, f.clientConfig(tls.VersionTLS13))
	e := h.eng.(*engine)
	inBefore := bytes.Clone(e.rl.in.secret)
	require.NoError(t, e.requestKeyUpdate())
	require.NoError(t, h.eng.Write([]byte("ping\n")))
	got, err := h.clientRead(5)
	require.NoError(t, err)
	assert.Equal(t, "ping\n", string(got))
	// The client answered with its own KeyUpdate; its next data uses the
	// new key.
	require.NoError(t, h.clientWrite([]byte("pong\n"), 5))
	assert.Equal(t, "pong\n", string(h.got))
	assert.NotEqual(t, inBefore, e.rl.in.secret, "receive key updated")
}

func FuzzRecordLayer(f *testing.F) {
	fx := newFixture(f)
	ts := fx.newServer(f, nil)
	seedPair := newRecordPair(f, ts, tls.TLS_AES_128_GCM_SHA256)
	f.Add(seedPair.peer.seal(nil, recordTypeApplicationData, []byte("hello\n")))
	f.Add([]byte{recordTypeApplicationData, 3, 3, 0xff, 0xff})
	f.Add([]byte{recordTypeApplicationData, 3, 3, 0, 17})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Fixed secrets make the peer's seeds decrypt; random bytes mostly
		// exercise the parser and the failure paths.
		p := newRecordPair(t, ts, tls.TLS_AES_128_GCM_SHA256)
		p.eng.rl = &recordLayer{suite: seedPair.eng.rl.suite, in: seedPair.eng.rl.in, out: seedPair.eng.rl.out}
		p.eng.rl.in.seq, p.eng.rl.out.seq = 0, 0
		// Feed the input a piece at a time.
		for len(data) > 0 {
			n := min(len(data), 1+int(data[0])%64)
			_ = p.eng.Feed(data[:n])
			data = data[n:]
			if _, err := p.readAll(); err != nil {
				break
			}
		}
		switch p.eng.State() {
		case Established, Closed:
		case Failed:
			err := p.eng.Err()
			if !(errorsIs(err, ErrBadRecord) || errorsIs(err, ErrPeerAlert)) {
				t.Fatalf("failure does not wrap a sentinel: %v", err)
			}
		default:
			t.Fatalf("unexpected state %v", p.eng.State())
		}
		p.eng.Release()
	})
}

func TestParkRebuildsKeys(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, s := range suites13 {
		t.Run(tls.CipherSuiteName(s.id), func(t *testing.T) {
			p := newRecordPair(t, ts, s.id)
			for i := 0; i < 3; i++ {
				p.eng.Park()
				require.Nil(t, p.eng.rl.in.aead, "parked")
				require.NoError(t, p.eng.Feed(p.peer.seal(nil, recordTypeApplicationData, []byte("req\n"))))
				got, err := p.readAll()
				require.NoError(t, err)
				assert.Equal(t, "req\n", string(got))
				p.eng.Park()
				require.NoError(t, p.eng.Write([]byte("rep\n")))
				data, _ := p.peerOpen(t)
				assert.Equal(t, "rep\n", string(data))
			}
			p.eng.Park()
			p.eng.Close()
			_, types := p.peerOpen(t)
			assert.Equal(t, []byte{recordTypeAlert}, types, "close_notify sent from a parked engine")
		})
	}
}
