package tlsbridge

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var versions = []struct {
	name string
	v    uint16
}{{"tls13", tls.VersionTLS13}, {"tls12", tls.VersionTLS12}}

func TestHandshakeRefused(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	for _, ver := range versions {
		tests := []struct {
			name string
			cert *tls.Certificate
		}{
			{"no client cert", nil},
			{"cert from another CA", &other.client},
		}
		for _, tc := range tests {
			t.Run(ver.name+" "+tc.name, func(t *testing.T) {
				ts := f.newServer(t, nil)
				cc := f.clientConfig(ver.v)
				cc.Certificates = nil
				if tc.cert != nil {
					cc.Certificates = []tls.Certificate{*tc.cert}
				}
				h := newHarness(t, ts, cc)
				cerr := h.handshake()
				require.Equal(t, Failed, h.eng.State())
				require.ErrorIs(t, h.eng.Err(), ErrHandshake)
				h.flush()
				if cerr == nil {
					// TLS 1.3: the client finished first; the alert shows
					// on its first read.
					_, cerr = h.client.Read(make([]byte, 1))
				}
				require.Error(t, cerr)
				assert.True(t, isAlert(cerr), "client should see the server's alert, got %v", cerr)
				assert.ErrorIs(t, h.eng.Write([]byte("x")), ErrHandshake, "Write reports the terminal error")
				s := waitStats(t, ts, "failure counted", func(s Stats) bool { return s.HandshakesFailed == 1 })
				assert.Zero(t, s.HandshakesOK)
			})
		}
	}
}

func TestResumption(t *testing.T) {
	f := newFixture(t)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			ts := f.newServer(t, nil)
			cache := tls.NewLRUClientSessionCache(4)
			connect := func() *harness {
				cc := f.clientConfig(ver.v)
				cc.ClientSessionCache = cache
				h := established(t, ts, cc)
				// The TLS 1.3 ticket arrives after the handshake: let the
				// client read something so it processes the ticket.
				require.NoError(t, h.eng.Write([]byte("x")))
				_, err := h.clientRead(1)
				require.NoError(t, err)
				return h
			}
			first := connect()
			assert.False(t, first.eng.Peer().Resumed)
			second := connect()
			p := second.eng.Peer()
			assert.True(t, p.Resumed, "second connection resumes")
			assert.True(t, p.HasCert, "resumed session still carries the client certificate")
			assert.Equal(t, first.eng.Peer().Fingerprint, p.Fingerprint)

			// Reload with a fresh copy of the same policy: tickets stay valid
			// because the ticket keys live on the Server, not the policy.
			require.NoError(t, ts.Reload(f.config()))
			third := connect()
			assert.True(t, third.eng.Peer().Resumed, "resumption survives Reload")
			assert.Equal(t, int64(2), ts.Stats().Resumed)

			// Reload to another CA: the old client's session must not
			// resume, and its certificate is refused.
			other := newFixture(t)
			require.NoError(t, ts.Reload(Config{Certificate: f.serverCert, ClientCAs: other.pool}))
			cc := f.clientConfig(ver.v)
			cc.ClientSessionCache = cache
			h := newHarness(t, ts, cc)
			_ = h.handshake()
			assert.Equal(t, Failed, h.eng.State())
			assert.ErrorIs(t, h.eng.Err(), ErrHandshake)
		})
	}
}

// recordSizes parses the records in b and returns their payload lengths.
func recordSizes(t *testing.T, b []byte) []int {
	t.Helper()
	var sizes []int
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), recordHeaderLen)
		n := int(binary.BigEndian.Uint16(b[3:5]))
		require.GreaterOrEqual(t, len(b), recordHeaderLen+n)
		sizes = append(sizes, n)
		b = b[recordHeaderLen+n:]
	}
	return sizes
}

func TestLargeAndFragmented(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	tests := []struct {
		name  string
		chunk int
		size  int
	}{
		{"whole 1MiB", 0, 1 << 20},
		{"7-byte chunks 256KiB", 7, 256 << 10},
		{"1-byte chunks 40KiB", 1, 40 << 10},
	}
	for _, ver := range versions {
		for _, tc := range tests {
			t.Run(ver.name+" "+tc.name, func(t *testing.T) {
				h := newHarness(t, ts, f.clientConfig(ver.v))
				h.chunk = tc.chunk
				require.NoError(t, h.handshake())
				require.Equal(t, Established, h.eng.State())

				up := make([]byte, tc.size)
				_, _ = rand.Read(up)
				require.NoError(t, h.clientWrite(up, len(up)))
				require.NoError(t, h.readErr)
				require.True(t, bytes.Equal(up, h.got), "client→engine data intact")

				down := make([]byte, tc.size)
				_, _ = rand.Read(down)
				require.NoError(t, h.eng.Write(down))
				out := h.eng.AppendOutgoing(nil)
				sizes := recordSizes(t, out)
				require.GreaterOrEqual(t, len(sizes), tc.size/maxPlaintext)
				for _, s := range sizes {
					require.LessOrEqual(t, s, maxPlaintext+256, "record too large")
				}
				_, _ = h.srv.Write(out)
				got, err := h.clientRead(len(down))
				require.NoError(t, err)
				require.True(t, bytes.Equal(down, got), "engine→client data intact")
			})
		}
	}
}

func TestCloseNotify(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, ver := range versions {
		t.Run(ver.name+" engine closes", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			require.NoError(t, h.eng.Write([]byte("FAIL bye\n")))
			h.eng.Close()
			assert.Equal(t, Closed, h.eng.State())
			assert.NoError(t, h.eng.Err())
			assert.ErrorIs(t, h.eng.Write([]byte("x")), ErrClosed)
			h.flush()
			got, err := io.ReadAll(h.client)
			assert.NoError(t, err, "client sees a clean close_notify, not a truncation")
			assert.Equal(t, "FAIL bye\n", string(got))
		})
		t.Run(ver.name+" client closes", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			_, err := h.client.Write([]byte("last\n"))
			require.NoError(t, err)
			require.NoError(t, h.client.CloseWrite())
			h.pumpUntil("engine EOF", func() bool { return h.readErr != nil })
			assert.ErrorIs(t, h.readErr, io.EOF)
			assert.Equal(t, "last\n", string(h.got))
			assert.Equal(t, Closed, h.eng.State())
			n, err := h.eng.Read(make([]byte, 8))
			assert.Zero(t, n)
			assert.ErrorIs(t, err, io.EOF, "EOF is sticky")
			assert.ErrorIs(t, h.eng.Write([]byte("x")), ErrClosed)
			// Answering with our close_notify is still possible.
			h.eng.Close()
			assert.NotEmpty(t, h.eng.AppendOutgoing(nil))
		})
	}
}

func TestBadRecords(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, ver := range versions {
		t.Run(ver.name+" tampered", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			_, err := h.client.Write([]byte("WORK reply\n"))
			require.NoError(t, err)
			rec := h.srv.r.take()
			require.NotEmpty(t, rec)
			rec[len(rec)-3] ^= 0x40
			h.feed(rec)
			require.ErrorIs(t, h.readErr, ErrBadRecord)
			assert.Equal(t, Failed, h.eng.State())
			assert.ErrorIs(t, h.eng.Err(), ErrBadRecord)
			assert.Empty(t, h.got)
			// The alert reaches the client.
			h.flush()
			_, cerr := h.client.Read(make([]byte, 1))
			assert.True(t, isAlert(cerr), "client gets bad_record_mac, got %v", cerr)
		})
		t.Run(ver.name+" garbage", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			g := make([]byte, 300)
			_, _ = rand.Read(g)
			g[0] = recordTypeApplicationData
			g[1], g[2] = 3, 3
			binary.BigEndian.PutUint16(g[3:5], uint16(len(g)-recordHeaderLen))
			h.feed(g)
			assert.ErrorIs(t, h.readErr, ErrBadRecord)
			assert.Equal(t, Failed, h.eng.State())
			assert.ErrorIs(t, h.eng.Feed([]byte("more")), ErrBadRecord, "Feed reports the terminal error")
		})
		t.Run(ver.name+" truncated then completed", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			_, err := h.client.Write([]byte("split me\n"))
			require.NoError(t, err)
			rec := h.srv.r.take()
			for i := 0; i < len(rec)-1; i++ {
				require.NoError(t, h.eng.Feed(rec[i:i+1]))
				n, err := h.eng.Read(h.rbuf)
				require.NoError(t, err)
				require.Zero(t, n, "no data before the record is complete")
				require.Equal(t, Established, h.eng.State())
			}
			h.feed(rec[len(rec)-1:])
			require.NoError(t, h.readErr)
			assert.Equal(t, "split me\n", string(h.got))
		})
		t.Run(ver.name+" oversized record header", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			h.feed([]byte{recordTypeApplicationData, 3, 3, 0xff, 0xff})
			assert.ErrorIs(t, h.readErr, ErrBadRecord)
			assert.Equal(t, Failed, h.eng.State())
		})
	}
	t.Run("garbage handshake", func(t *testing.T) {
		h := newHarness(t, ts, nil)
		hello := []byte{recordTypeHandshake, 3, 1, 0, 4, 1, 0, 0, 0}
		require.ErrorIs(t, h.eng.Feed(hello), ErrHandshake, "Feed runs the handshake and reports how it ended")
		assert.Equal(t, Failed, h.eng.State())
		assert.ErrorIs(t, h.eng.Err(), ErrHandshake)
		h.flush()
		assert.NotEmpty(t, h.srv.w.take(), "crypto/tls's alert is left to send")
	})
}

func TestNotTLS(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, in := range []string{"HELLO\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "H", "\x16\x04", "\x16\x03\x01\x00\x00", "\x16\x03\x01\xff\xff"} {
		t.Run(in, func(t *testing.T) {
			e := ts.NewEngine(testPeerAddr, nil)
			defer e.Release()
			err := e.Feed([]byte(in))
			require.ErrorIs(t, err, ErrNotTLS)
			assert.Equal(t, Failed, e.State())
			assert.ErrorIs(t, e.Err(), ErrNotTLS)
			assert.Empty(t, e.AppendOutgoing(nil))
			assert.Nil(t, e.(*engine).hs, "no handshake was started")
		})
	}
	s := ts.Stats()
	assert.Zero(t, s.HandshakesInFlight+s.HandshakesOK)
	assert.Equal(t, int64(6), s.HandshakesFailed)
}

func TestPeerGoneMidHandshake(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, how := range []string{"close", "release"} {
		t.Run(how, func(t *testing.T) {
			before := runtime.NumGoroutine()
			// The server answered the ClientHello, then the peer vanishes:
			// the handshake coroutine waits for its next flight.
			h := startedHandshake(t, ts, f)
			require.Equal(t, int64(1), ts.Stats().HandshakesInFlight)
			if how == "close" {
				h.eng.Close()
				assert.Equal(t, Closed, h.eng.State())
			} else {
				h.eng.Release()
			}
			h.cli.Close()
			waitStats(t, ts, "slot freed", func(s Stats) bool { return s.HandshakesInFlight == 0 })
			waitGoroutines(t, ts, before)
			assert.NoError(t, h.eng.Err())
		})
	}
	assert.Equal(t, int64(2), ts.Stats().HandshakesCanceled)
}

func TestHandshakeCap(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, func(c *Config) { c.MaxHandshakes = 1 })
	hs := make([]*harness, 3)
	cerrs := make([]<-chan error, 3)
	for i := range hs {
		hs[i] = newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
		cerrs[i] = async(hs[i].client.Handshake)
	}
	// Deliver every ClientHello; only the first gets a slot.
	for _, h := range hs {
		h.pumpUntil("client hello fed", func() bool { return h.eng.(*engine).hsStarted() })
	}
	s := ts.Stats()
	assert.Equal(t, int64(1), s.HandshakesInFlight)
	assert.Equal(t, int64(2), s.HandshakesQueued)
	assert.Equal(t, int64(2), s.HandshakesWaited)

	// FIFO: finishing #0 admits #1, not #2.
	var err error
	d0 := done(cerrs[0], &err)
	hs[0].pumpUntil("first handshake", func() bool { return d0() && hs[0].eng.State() == Established })
	require.NoError(t, err)
	s = waitStats(t, ts, "one queued", func(s Stats) bool { return s.HandshakesQueued == 1 })
	assert.Equal(t, int64(1), s.HandshakesInFlight)
	assert.False(t, hs[1].eng.(*engine).queuedNow(), "second admitted first")
	assert.True(t, hs[2].eng.(*engine).queuedNow(), "third still waits")

	for i := 1; i < 3; i++ {
		di := done(cerrs[i], &err)
		hs[i].pumpUntil("handshake", func() bool { return di() && hs[i].eng.State() != Handshaking })
		require.NoError(t, err)
		require.Equal(t, Established, hs[i].eng.State())
	}
	s = ts.Stats()
	// One slot: the three handshakes ran one after another on one runner.
	assert.Equal(t, Stats{HandshakesOK: 3, HandshakesWaited: 2, IdleRunners: 1}, s)

	t.Run("queued engine closed", func(t *testing.T) {
		a := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
		b := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
		go func() { _ = a.client.Handshake() }()
		go func() { _ = b.client.Handshake() }()
		a.pumpUntil("a started", func() bool { return a.eng.(*engine).hsStarted() })
		b.pumpUntil("b queued", func() bool { return b.eng.(*engine).hsStarted() })
		require.Equal(t, int64(1), ts.Stats().HandshakesQueued)
		b.eng.Close()
		assert.Zero(t, ts.Stats().HandshakesQueued)
		a.eng.Close()
		waitStats(t, ts, "slot freed", func(s Stats) bool { return s.HandshakesInFlight == 0 })
		assert.Equal(t, int64(2), ts.Stats().HandshakesCanceled)
	})
}

func TestReload(t *testing.T) {
	f := newFixture(t)
	g := newFixture(t)
	ts := f.newServer(t, nil)
	old := established(t, ts, f.clientConfig(tls.VersionTLS13))

	bad := []struct {
		name string
		cfg  Config
	}{
		{"no certificate", Config{ClientCAs: g.pool}},
		{"no CA", Config{Certificate: g.serverCert}},
		{"no key", Config{Certificate: tls.Certificate{Certificate: g.serverCert.Certificate}, ClientCAs: g.pool}},
		{"negative cap", Config{Certificate: g.serverCert, ClientCAs: g.pool, MaxHandshakes: -1}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, ts.Reload(tc.cfg))
			// The old policy is still in force.
			established(t, ts, f.clientConfig(tls.VersionTLS13))
		})
	}

	require.NoError(t, ts.Reload(g.config()))
	established(t, ts, g.clientConfig(tls.VersionTLS13))
	h := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
	cerr := h.handshake()
	assert.Error(t, cerr, "old CA no longer trusts the new server certificate")

	// The established engine is untouched.
	require.NoError(t, old.clientWrite([]byte("still here\n"), 11))
	assert.Equal(t, "still here\n", string(old.got))
}

func TestNewServerValidates(t *testing.T) {
	f := newFixture(t)
	_, err := NewServer(Config{})
	assert.Error(t, err)
	_, err = NewServer(Config{Certificate: f.serverCert})
	assert.Error(t, err, "CA required unless insecure")
	ts, err := NewServer(Config{Certificate: f.serverCert, Insecure: true})
	require.NoError(t, err)
	assert.NotNil(t, ts)
}

func TestOneByteAtATime(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			h := newHarness(t, ts, f.clientConfig(ver.v))
			h.chunk = 1
			require.NoError(t, h.handshake())
			require.Equal(t, Established, h.eng.State())
			msg := []byte("one byte at a time\nand another line\n")
			require.NoError(t, h.clientWrite(msg, len(msg)))
			assert.Equal(t, string(msg), string(h.got))
		})
	}
}

func TestErrorsWrapSentinels(t *testing.T) {
	for _, e := range []error{ErrNotTLS, ErrHandshake, ErrBadRecord, ErrClosed, ErrNotEstablished, ErrPeerAlert} {
		for _, o := range []error{ErrNotTLS, ErrHandshake, ErrBadRecord, ErrClosed, ErrNotEstablished, ErrPeerAlert} {
			assert.Equal(t, e == o, errors.Is(e, o))
		}
	}
}

// TestDataPipelinedBehindFinished: a TLS 1.3 client may send application
// data right behind its Finished; the engine must hand those records to the
// record layer, not lose them inside crypto/tls.
func TestDataPipelinedBehindFinished(t *testing.T) {
	f := newFixture(t)
	for _, mode := range []struct {
		name     string
		insecure bool
	}{{"mtls", false}, {"insecure", true}} {
		t.Run(mode.name, func(t *testing.T) {
			ts := f.newServer(t, func(c *Config) {
				c.Insecure = mode.insecure
				if mode.insecure {
					c.ClientCAs = nil
				}
			})
			h := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
			var cerr error
			cdone := done(h.async(h.client.Handshake), &cerr)
			// Feed the ClientHello only, send the server flight, and hold
			// back everything else until the client has finished.
			h.pumpUntil("server flight", func() bool {
				if h.eng.(*engine).hsStarted() {
					h.flush()
					return h.srv.w.len() > 0 || cdone()
				}
				return false
			})
			deadline := time.After(waitLimit)
			for !cdone() {
				select {
				case <-h.ev:
				case <-deadline:
					t.Fatal("client handshake did not finish")
				}
			}
			require.NoError(t, cerr)
			_, err := h.client.Write([]byte("early bird\n"))
			require.NoError(t, err)
			// Finished and the data arrive in one read.
			h.feed(h.srv.r.take())
			h.pumpUntil("data", func() bool { return len(h.got) >= 11 || h.readErr != nil })
			require.NoError(t, h.readErr)
			assert.Equal(t, "early bird\n", string(h.got))
			assert.Equal(t, Established, h.eng.State())
			assert.NotNil(t, h.eng.(*engine).rl, "crypto/tls stopped at the Finished record, so the record layer took over")
		})
	}
}
