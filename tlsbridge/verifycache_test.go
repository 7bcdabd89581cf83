package tlsbridge

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
)

func parseChain(t *testing.T, pair certs.Pair) []*x509.Certificate {
	t.Helper()
	chain, err := pair.Chain()
	require.NoError(t, err)
	return chain
}

func TestChainCache(t *testing.T) {
	now := time.Now()
	pki, err := certs.New(certs.Options{Now: now, Validity: time.Hour})
	require.NoError(t, err)
	other, err := certs.New(certs.Options{Now: now})
	require.NoError(t, err)
	client := parseChain(t, pki.Client)

	tests := []struct {
		name       string
		chain      []*x509.Certificate
		at         []time.Time // verify at each time in turn
		wantErr    []bool
		wantHits   uint64
		wantMisses uint64
	}{
		{"repeat is a hit", client, []time.Time{now, now.Add(time.Minute)}, []bool{false, false}, 1, 1},
		{"expired after caching is re-verified and refused", client,
			[]time.Time{now, now.Add(2 * time.Hour)}, []bool{false, true}, 0, 2},
		{"before validity (clock went back) is re-verified", client,
			[]time.Time{now, now.Add(-3 * time.Hour)}, []bool{false, true}, 0, 2},
		{"other CA is refused and never cached", parseChain(t, other.Client),
			[]time.Time{now, now}, []bool{true, true}, 0, 2},
		{"server-only certificate is no client certificate", parseChain(t, pki.Server),
			[]time.Time{now, now}, []bool{true, true}, 0, 2},
		{"empty chain", nil, []time.Time{now}, []bool{true}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newChainCache(pki.CertPool(), 16)
			for i, at := range tc.at {
				err := c.verify(tc.chain, at)
				if tc.wantErr[i] {
					require.Error(t, err, "call %d", i)
				} else {
					require.NoError(t, err, "call %d", i)
				}
			}
			hits, misses := c.stats()
			assert.Equal(t, tc.wantHits, hits, "hits")
			assert.Equal(t, tc.wantMisses, misses, "misses")
		})
	}
}

func TestChainCacheIsBounded(t *testing.T) {
	c := newChainCache(nil, 2)
	var roots []*certs.PKI
	for range 3 {
		p, err := certs.New(certs.Options{})
		require.NoError(t, err)
		roots = append(roots, p)
	}
	for _, p := range roots {
		c.roots = p.CertPool()
		require.NoError(t, c.verify(parseChain(t, p.Client), time.Now()))
		assert.LessOrEqual(t, len(c.entries), 2)
	}
}

// TestHandshakesReuseChainVerification drives real handshakes: the second
// with the same client certificate skips chain verification, a client of
// another CA is still refused, and a reload starts a fresh cache.
func TestHandshakesReuseChainVerification(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	wake := make(chan struct{}, 1)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12, tls.VersionTLS13} {
		h := makeHarness(t, ts, f.clientConfig(v), wake)
		require.NoError(t, h.handshake())
		require.Equal(t, Established, h.eng.State())
		h.eng.Release()
	}
	hits, misses := ts.cur.Load().chains.stats()
	assert.Equal(t, uint64(1), misses)
	assert.Equal(t, uint64(2), hits)

	other := newFixture(t)
	cc := f.clientConfig(tls.VersionTLS13)
	cc.Certificates = []tls.Certificate{other.client}
	h := makeHarness(t, ts, cc, wake)
	_ = h.handshake()
	assert.Equal(t, Failed, h.eng.State())
	assert.ErrorIs(t, h.eng.Err(), ErrHandshake)
	h.eng.Release()

	require.NoError(t, ts.Reload(f.config()))
	h = makeHarness(t, ts, f.clientConfig(tls.VersionTLS13), wake)
	require.NoError(t, h.handshake())
	h.eng.Release()
	hits, misses = ts.cur.Load().chains.stats()
	assert.Equal(t, uint64(0), hits, "a reload starts a fresh cache")
	assert.Equal(t, uint64(1), misses)
}
