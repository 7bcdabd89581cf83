package tlsbridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ClientAuth is the client-certificate policy.
type ClientAuth uint8

const (
	// ClientAuthVerify requires a client certificate that chains to
	// ClientCAs (mutual TLS; the default).
	ClientAuthVerify ClientAuth = iota
	// ClientAuthAny requires a client certificate but accepts any
	// well-formed one, self-signed or from an unknown CA: the identity is
	// its fingerprint. The client still proves it holds the key (TLS's
	// CertificateVerify) and the leaf's validity dates are checked.
	ClientAuthAny
	// ClientAuthOptional requests a certificate and verifies it against
	// ClientCAs when one is presented; clients without one are served.
	ClientAuthOptional
	// ClientAuthNone does not request a certificate (the reference's
	// --insecure).
	ClientAuthNone
)

var clientAuthNames = [...]string{"verify", "any", "optional", "none"}

func (a ClientAuth) String() string {
	if int(a) < len(clientAuthNames) {
		return clientAuthNames[a]
	}
	return fmt.Sprintf("ClientAuth(%d)", a)
}

// ParseClientAuth reads "verify", "any", "optional" or "none".
func ParseClientAuth(s string) (ClientAuth, error) {
	for i, n := range clientAuthNames {
		if strings.EqualFold(s, n) {
			return ClientAuth(i), nil
		}
	}
	return 0, fmt.Errorf("client auth %q: want verify, any, optional or none", s)
}

// needsCAs reports whether the mode verifies chains against ClientCAs.
func (a ClientAuth) needsCAs() bool { return a == ClientAuthVerify || a == ClientAuthOptional }

// ErrIdentityRefused wraps the error of Config.Identity when it refuses a
// handshake.
var ErrIdentityRefused = errors.New("tlsbridge: client identity refused")

// effectiveClientAuth folds the reference's Insecure into ClientAuth.
func effectiveClientAuth(cfg Config) (ClientAuth, error) {
	if cfg.ClientAuth > ClientAuthNone {
		return 0, fmt.Errorf("unknown %v", cfg.ClientAuth)
	}
	if cfg.Insecure {
		if cfg.ClientAuth != ClientAuthVerify && cfg.ClientAuth != ClientAuthNone {
			return 0, fmt.Errorf("Insecure contradicts client auth %v", cfg.ClientAuth)
		}
		return ClientAuthNone, nil
	}
	return cfg.ClientAuth, nil
}

// applyClientAuth sets t's client-certificate policy for cfg and returns
// the chain cache verifying against ClientCAs (nil when the mode does not
// verify chains).
//
// Every check runs in VerifyConnection, which crypto/tls also calls on a
// resumed session, so resumption is judged by the current policy: CAs,
// validity and identity lists included.
func applyClientAuth(t *tls.Config, cfg Config) (*chainCache, error) {
	mode, err := effectiveClientAuth(cfg)
	if err != nil {
		return nil, err
	}
	if mode == ClientAuthNone {
		t.ClientAuth = tls.NoClientCert
		t.ClientCAs = nil
		return nil, nil
	}
	var chains *chainCache
	if mode.needsCAs() {
		if cfg.ClientCAs == nil {
			return nil, fmt.Errorf("ClientCAs is required for client auth %v", mode)
		}
		// Chains are verified by chainCache instead of crypto/tls, so a
		// repeated certificate is not re-verified (see chainCache).
		chains = newChainCache(cfg.ClientCAs, defaultChainCacheSize)
	} else {
		// Any CA goes: do not advertise ours as the acceptable ones.
		t.ClientCAs = nil
	}
	// crypto/tls parses the presented certificates and checks the
	// client's CertificateVerify against the leaf's key in every mode;
	// Require/RequestClientCert leave the rest to VerifyConnection.
	t.ClientAuth = tls.RequireAnyClientCert
	if mode == ClientAuthOptional {
		t.ClientAuth = tls.RequestClientCert
	}
	identity := cfg.Identity
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		certs := cs.PeerCertificates
		now := time.Now()
		switch {
		case len(certs) == 0 && mode == ClientAuthOptional:
		case chains != nil:
			if err := chains.verify(certs, now); err != nil {
				return err
			}
		default:
			if err := checkLeaf(certs, now); err != nil {
				return err
			}
		}
		if identity == nil {
			return nil
		}
		var leaf *x509.Certificate
		if len(certs) > 0 {
			leaf = certs[0]
		}
		if err := identity(leaf); err != nil {
			return fmt.Errorf("%w: %w", ErrIdentityRefused, err)
		}
		return nil
	}
	return chains, nil
}

// maxAnyChainBytes bounds the certificates a client may present in
// ClientAuthAny mode. No CA vetted them, so their size is the client's
// choice, and an established TLS 1.2 session keeps them for its whole
// life: without a bound, parked sessions with 60 KiB certificates would
// cost the server 60 KiB each. Real client certificates are 0.5-2 KiB.
const maxAnyChainBytes = 16 << 10

// maxSubjectBytes bounds Peer.Subject, which logs and records carry; in
// ClientAuthAny mode the client writes it. The fingerprint, not the
// subject, is the identity.
const maxSubjectBytes = 512

// boundSubject cuts a subject longer than maxSubjectBytes at a UTF-8
// boundary and marks the cut with "…".
func boundSubject(s string) string {
	if len(s) <= maxSubjectBytes {
		return s
	}
	cut := maxSubjectBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// checkLeaf is ClientAuthAny's check of a certificate no CA vouches for:
// present, of a bounded size, inside its validity dates, and not
// restricted to uses other than client authentication.
func checkLeaf(certs []*x509.Certificate, now time.Time) error {
	if len(certs) == 0 {
		return errors.New("tls: client didn't provide a certificate")
	}
	size := 0
	for _, c := range certs {
		size += len(c.Raw)
	}
	if size > maxAnyChainBytes {
		return fmt.Errorf("tls: client certificates of %d bytes, more than %d", size, maxAnyChainBytes)
	}
	c := certs[0]
	if now.Before(c.NotBefore) {
		return x509.CertificateInvalidError{Cert: c, Reason: x509.Expired,
			Detail: fmt.Sprintf("current time %s is before %s", now.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format(time.RFC3339))}
	}
	if now.After(c.NotAfter) {
		return x509.CertificateInvalidError{Cert: c, Reason: x509.Expired,
			Detail: fmt.Sprintf("current time %s is after %s", now.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))}
	}
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		for _, u := range c.ExtKeyUsage {
			if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
				return nil
			}
		}
		return x509.CertificateInvalidError{Cert: c, Reason: x509.IncompatibleUsage,
			Detail: "the certificate's extended key usage does not include client authentication"}
	}
	return nil
}
