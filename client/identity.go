package client

import (
	"crypto/tls"
	"fmt"

	"github.com/rs/zerolog"

	"tlslpd/identity"
)

// loadTLS builds the session's TLS configuration from the flags: the
// client certificate from its files, or a transient one made now
// (--transient-cert), and the server name to ask for (--server-name).
func (o *cliOptions) loadTLS(log *zerolog.Logger) (*tls.Config, error) {
	if !o.transientCert {
		cfg, err := LoadTLS(o.cert, o.key, o.ca, o.insecure)
		if err != nil {
			return nil, err
		}
		cfg.ServerName = o.serverName
		return cfg, nil
	}
	cfg, err := ServerTrust(o.ca, o.insecure)
	if err != nil {
		return nil, err
	}
	cert, err := identity.Transient("tlslpd transient client", 0)
	if err != nil {
		return nil, fmt.Errorf("transient client certificate: %w", err)
	}
	// Always shown: crypto/tls would withhold it from a server that names
	// the CAs it trusts, and the server's refusal says more than silence.
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	cfg.ServerName = o.serverName
	log.Info().Str("fingerprint", identity.Of(cert.Certificate[0]).String()).Str("subject", cert.Leaf.Subject.String()).
		Time("not_after", cert.Leaf.NotAfter).Msg("transient client certificate")
	return cfg, nil
}

// ServerTrust is a client configuration that checks the server only: its
// certificate verified against caFile, or, with insecure (the reference's
// --insecure, loopback only), not at all. The caller adds the client
// certificate, e.g. a transient one.
func ServerTrust(caFile string, insecure bool) (*tls.Config, error) {
	if insecure {
		return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, nil //nolint:gosec // the reference's --insecure, loopback only
	}
	pool, err := loadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
