package loadgen

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sync"
	"time"
)

// chainMemo checks the server's certificate chain the way crypto/tls does
// (roots, intermediates, host name, validity), and remembers the last
// chain that passed, byte for byte, with the window in which all of its
// certificates are valid. A load run opens thousands of connections to one
// server, and the chain check (an ECDSA verification plus chain building)
// was about a tenth of the load generator's CPU per session: CPU the
// server under test should get instead.
//
// Only the chain check is remembered. The proof that the server holds the
// certificate's key — its CertificateVerify signature over each handshake
// — is still verified by crypto/tls on every connection.
type chainMemo struct {
	roots      *x509.CertPool // nil: the system roots, as in crypto/tls
	serverName string

	mu          sync.Mutex
	raw         [][]byte // DER of the last chain that verified, leaf first
	from, until time.Time
}

// memoizeChainCheck makes cfg verify the server's chain through a
// chainMemo; cfg must be the load generator's own copy. A config is left
// alone when crypto/tls would not check the chain itself (verification
// skipped, or no server name, which crypto/tls refuses), or when it brings
// its own verification hooks or clock: those rely on crypto/tls's own
// check (VerifiedChains, Config.Time), which the memo replaces.
func memoizeChainCheck(cfg *tls.Config) {
	if cfg.InsecureSkipVerify || cfg.ServerName == "" ||
		cfg.VerifyConnection != nil || cfg.VerifyPeerCertificate != nil || cfg.Time != nil {
		return
	}
	m := &chainMemo{roots: cfg.RootCAs, serverName: cfg.ServerName}
	// With InsecureSkipVerify, crypto/tls skips only the chain check,
	// which m does instead; it still verifies CertificateVerify.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return m.check(cs.PeerCertificates, time.Now())
	}
}

// check verifies certs (leaf first) at now, unless they are the chain
// that verified last time and now is inside its validity window.
func (m *chainMemo) check(certs []*x509.Certificate, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("tls: server sent no certificate")
	}
	if m.remembers(certs, now) {
		return nil
	}
	opts := x509.VerifyOptions{
		Roots:         m.roots,
		CurrentTime:   now,
		DNSName:       m.serverName,
		Intermediates: x509.NewCertPool(),
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	raw := make([][]byte, len(certs))
	for i, c := range certs {
		raw[i] = c.Raw
	}
	from, until := chains[0][0].NotBefore, chains[0][0].NotAfter
	for _, c := range chains[0][1:] {
		from, until = later(from, c.NotBefore), earlier(until, c.NotAfter)
	}
	m.mu.Lock()
	m.raw, m.from, m.until = raw, from, until
	m.mu.Unlock()
	return nil
}

func (m *chainMemo) remembers(certs []*x509.Certificate, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(certs) != len(m.raw) || now.Before(m.from) || now.After(m.until) {
		return false
	}
	for i, c := range certs {
		if !bytes.Equal(c.Raw, m.raw[i]) {
			return false
		}
	}
	return true
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
