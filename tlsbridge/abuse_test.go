package tlsbridge

import (
	"crypto/tls"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPeerLimitsTLS13: records without application data are rated per
// connection and per unit of time, so data slipped between them does not
// reset the bound, and a peer within the rate is never cut off.
func TestPeerLimitsTLS13(t *testing.T) {
	f := newFixture(t)
	limits := defaultPeerLimits()
	ku := func(p *recordPair, in []byte) []byte {
		in = p.peer.seal(in, recordTypeHandshake, []byte{handshakeTypeKeyUpdate, 0, 0, 1, 1})
		require.NoError(t, p.peer.out.update(p.peer.suite))
		return in
	}
	data := func(p *recordPair, in []byte) []byte {
		return p.peer.seal(in, recordTypeApplicationData, []byte("x"))
	}
	empty := func(p *recordPair, in []byte) []byte {
		return p.peer.seal(in, recordTypeApplicationData, nil)
	}
	tests := []struct {
		name  string
		kind  abuse
		build func(p *recordPair) []byte // one round: what the peer sends between clock steps
		step  time.Duration              // clock moves this much per round
		want  error                      // nil: every round passes
	}{
		{"KeyUpdate flood with data between", abuseKeyUpdate,
			func(p *recordPair) []byte { return data(p, ku(p, nil)) }, 0, ErrTooManyKeyUpdates},
		{"KeyUpdates at the allowed rate", abuseKeyUpdate,
			func(p *recordPair) []byte { return data(p, ku(p, nil)) }, limits[abuseKeyUpdate].interval, nil},
		{"empty records with data between", abuseEmptyRecord,
			func(p *recordPair) []byte { return data(p, empty(p, empty(p, nil))) }, 0, ErrTooManyEmptyRecords},
		{"empty records at the allowed rate", abuseEmptyRecord,
			func(p *recordPair) []byte { return data(p, empty(p, nil)) }, limits[abuseEmptyRecord].interval, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := f.newServer(t, nil)
			now := ts.freezeClock()
			p := newRecordPair(t, ts, tls.TLS_AES_128_GCM_SHA256)
			rounds := 3 * int(limits[tc.kind].burst)
			var err error
			for i := 0; i < rounds && err == nil; i++ {
				*now += int64(tc.step)
				require.NoError(t, p.eng.Feed(tc.build(p)))
				_, err = p.readAll()
				_, _ = p.peerOpen(t) // apply the engine's KeyUpdate answers
			}
			if tc.want == nil {
				require.NoError(t, err)
				assert.Equal(t, Established, p.eng.State())
				assert.Equal(t, Stats{}, abuseStats(ts.Stats()))
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, ErrPeerAbuse)
			assert.Equal(t, Failed, p.eng.State())
			s := abuseStats(ts.Stats())
			assert.Equal(t, int64(1), s.AbuseKeyUpdates+s.AbuseEmptyRecords, "counted once, by reason")
		})
	}
}

// abuseStats keeps only the abuse counters of s.
func abuseStats(s Stats) Stats {
	return Stats{AbuseKeyUpdates: s.AbuseKeyUpdates, AbuseEmptyRecords: s.AbuseEmptyRecords,
		AbuseAlerts: s.AbuseAlerts, AbuseRenegotiations: s.AbuseRenegotiations}
}

// TestScreenRecord12: a TLS 1.2 session's records are rated by their
// headers, which show the real type, before crypto/tls decrypts them.
func TestScreenRecord12(t *testing.T) {
	f := newFixture(t)
	limits := defaultPeerLimits()
	hdr := func(typ byte, n int) []byte { return []byte{typ, 3, 3, byte(n >> 8), byte(n)} }
	tests := []struct {
		name    string
		suite   uint16
		hdr     []byte
		allowed int // records passed before the error
		want    error
	}{
		{"renegotiation", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, hdr(recordTypeHandshake, 40), 0, ErrRenegotiation},
		{"alerts", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, hdr(recordTypeAlert, 26), int(limits[abuseAlert].burst), ErrTooManyAlerts},
		{"empty AES-GCM records", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, hdr(recordTypeApplicationData, 24), int(limits[abuseEmptyRecord].burst), ErrTooManyEmptyRecords},
		{"empty ChaCha20 records", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, hdr(recordTypeApplicationData, 16), int(limits[abuseEmptyRecord].burst), ErrTooManyEmptyRecords},
		{"one-byte AES-GCM records", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, hdr(recordTypeApplicationData, 25), 1000, nil},
		{"one-byte ChaCha20 records", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, hdr(recordTypeApplicationData, 17), 1000, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := f.newServer(t, nil)
			ts.freezeClock()
			e := &engine{srv: ts, state: Established, peer: Peer{Version: tls.VersionTLS12, CipherSuite: tc.suite}}
			for i := 0; i < tc.allowed; i++ {
				require.NoError(t, e.screenRecord12(tc.hdr), "record %d", i)
			}
			if tc.want != nil {
				assert.ErrorIs(t, e.screenRecord12(tc.hdr), tc.want)
			}
		})
	}
}

// TestRenegotiationTLS12: a TLS 1.2 client's handshake record after the
// handshake ends the session with ErrRenegotiation, counted.
func TestRenegotiationTLS12(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	h := established(t, ts, f.clientConfig(tls.VersionTLS12))
	// A record's header is rated before crypto/tls decrypts its body.
	h.feed([]byte{recordTypeHandshake, 3, 3, 0, 40})
	h.feed(make([]byte, 40))
	require.ErrorIs(t, h.readErr, ErrRenegotiation)
	assert.Equal(t, Failed, h.eng.State())
	assert.ErrorIs(t, h.eng.Err(), ErrPeerAbuse)
	assert.Equal(t, int64(1), ts.Stats().AbuseRenegotiations)
}

// TestAbusePenalty: once a session is closed for abuse, new handshakes
// from its source address are refused until abusePenalty has passed;
// other addresses are not affected.
func TestAbusePenalty(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	now := ts.freezeClock()
	hello := clientHello(t, f.clientConfig(tls.VersionTLS13))
	abuser, other := attacker(0, 2), attacker(1, 2)

	h := established(t, ts, f.clientConfig(tls.VersionTLS12))
	h.eng.(*engine).addr = abuser
	h.feed([]byte{recordTypeHandshake, 3, 3, 0, 40})
	require.ErrorIs(t, h.readErr, ErrRenegotiation)

	tests := []struct {
		name    string
		after   time.Duration
		addr    netip.Addr
		refused bool
	}{
		{"same address at once", 0, abuser, true},
		{"another address", 0, other, false},
		{"same address just before the end", abusePenalty - time.Millisecond, abuser, true},
		{"same address after the penalty", abusePenalty, abuser, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			*now = int64(tc.after)
			e := ts.NewEngine(tc.addr, nil)
			defer e.Release()
			err := e.Feed(hello)
			if tc.refused {
				require.ErrorIs(t, err, ErrPenalized)
				assert.ErrorIs(t, err, ErrPeerAbuse)
				assert.Equal(t, Failed, e.State())
				assert.Nil(t, e.(*engine).hs, "no handshake was begun")
			} else {
				require.NoError(t, err)
				assert.Equal(t, Handshaking, e.State())
			}
		})
	}
	assert.Equal(t, int64(2), ts.Stats().HandshakesPenalized)
}

// TestPenaltyBoxBounded: the box forgets expired addresses first and never
// holds more than maxPenalized.
func TestPenaltyBoxBounded(t *testing.T) {
	var p penaltyBox
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	const n = maxPenalized + 10
	for i := range n {
		p.add(addr(i), int64(i))
	}
	assert.LessOrEqual(t, len(p.until), maxPenalized)
	assert.True(t, p.holds(addr(n-1), n-1), "the newest is kept")
	assert.False(t, p.holds(addr(n-1), int64(abusePenalty)+n-1), "and released once its penalty ends")
}
