package loadgen

import (
	"crypto/tls"
	"fmt"
	"io"
	"time"

	"tlslpd/identity"
)

// maxIdentities bounds --identities: each is a key pair and a TLS
// configuration kept for the whole run (a few KiB), and making one costs
// tens of microseconds.
const maxIdentities = 1_000_000

// useIdentities makes n transient self-signed ECDSA P-256 client
// certificates (for a server in --client-auth any mode) and gives each its
// own TLS configuration; sessions take them in turn, whatever the model. With resumption
// each identity has its own session cache: a ticket resumes the identity
// it was issued to, so a shared cache would blur them.
func (r *sessionRunner) useIdentities(n int, resumption bool, notices io.Writer) error {
	if n <= 0 {
		return nil
	}
	if n > maxIdentities {
		return fmt.Errorf("%w: --identities %d is more than %d", ErrConfig, n, maxIdentities)
	}
	start := time.Now()
	r.identities = make([]*tls.Config, n)
	for i := range r.identities {
		cert, err := identity.Transient(fmt.Sprintf("tlslpd load %d", i), 0)
		if err != nil {
			return fmt.Errorf("identity %d: %w", i, err)
		}
		c := r.tls.Clone() // keeps the shared server-chain memo
		c.Certificates = []tls.Certificate{cert}
		c.GetClientCertificate = nil
		c.ClientSessionCache = nil
		if resumption {
			c.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		}
		r.identities[i] = c
	}
	fmt.Fprintf(notices, "tlslpd bench load: made %d transient client identities (self-signed ECDSA P-256) in %.2fs\n",
		n, time.Since(start).Seconds())
	return nil
}

// nextTLS is the next session's TLS configuration: the next identity's.
func (r *sessionRunner) nextTLS() *tls.Config {
	if len(r.identities) == 0 {
		return r.tls
	}
	return r.identities[r.nextIdentity.Add(1)%uint64(len(r.identities))]
}
