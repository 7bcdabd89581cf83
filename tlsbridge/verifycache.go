package tlsbridge

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// defaultChainCacheSize bounds the distinct client certificate chains
// remembered per policy; past it the cache starts over (a miss only costs
// the normal verification).
const defaultChainCacheSize = 4096

// chainCache remembers client certificate chains that verified against one
// policy's CA pool. A load test presents the same client certificate
// thousands of times, and crypto/tls would rebuild and check the chain to
// the CA (two ECDSA verifications and chain building) on every handshake.
//
// Only the chain-to-CA result is reused, and only for byte-identical
// chains, against the same pool (a Reload builds a new policy and so a new
// cache), while the current time is inside every certificate's validity.
// Proof of possession — the client's CertificateVerify signature — is still
// checked by crypto/tls on every handshake.
type chainCache struct {
	roots *x509.CertPool
	max   int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]validity
	hits    uint64
	misses  uint64
}

type validity struct{ from, until time.Time }

func newChainCache(roots *x509.CertPool, size int) *chainCache {
	return &chainCache{roots: roots, max: size, entries: make(map[[sha256.Size]byte]validity)}
}

// verify checks certs (leaf first, then intermediates) as crypto/tls's
// RequireAndVerifyClientCert would: a chain to roots, valid now, usable for
// client authentication.
func (c *chainCache) verify(certs []*x509.Certificate, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("tls: client didn't provide a certificate")
	}
	key := chainKey(certs)
	c.mu.Lock()
	v, ok := c.entries[key]
	if ok && !now.Before(v.from) && !now.After(v.until) {
		c.hits++
		c.mu.Unlock()
		return nil
	}
	c.misses++
	c.mu.Unlock()

	opts := x509.VerifyOptions{
		Roots:         c.roots,
		CurrentTime:   now,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, cert := range certs[1:] {
		opts.Intermediates.AddCert(cert)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return fmt.Errorf("tls: failed to verify certificate: %w", err)
	}
	v = chainValidity(chains[0])
	c.mu.Lock()
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[key] = v
	c.mu.Unlock()
	return nil
}

// stats reports hits and misses, for tests and metrics.
func (c *chainCache) stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// chainValidity is the window in which every certificate of chain is valid.
func chainValidity(chain []*x509.Certificate) validity {
	v := validity{from: chain[0].NotBefore, until: chain[0].NotAfter}
	for _, cert := range chain[1:] {
		if cert.NotBefore.After(v.from) {
			v.from = cert.NotBefore
		}
		if cert.NotAfter.Before(v.until) {
			v.until = cert.NotAfter
		}
	}
	return v
}

// chainKey digests the presented chain exactly (length-prefixed DER), so
// a different intermediate is a different entry.
func chainKey(certs []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	var n [4]byte
	for _, cert := range certs {
		binary.BigEndian.PutUint32(n[:], uint32(len(cert.Raw)))
		h.Write(n[:])
		h.Write(cert.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}
