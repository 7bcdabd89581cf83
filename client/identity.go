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
	// Only the server's side of the files is needed: LoadTLS with
	// insecure reads no CA, otherwise it reads the CA and a client pair
	// that may not exist; load the CA alone.
	var cfg *tls.Config
	if o.insecure {
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // the reference's --insecure, loopback only
	} else {
		pool, err := loadCAPool(o.ca)
		if err != nil {
			return nil, err
		}
		cfg = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	cert, err := identity.Transient("tlslpd transient client", 0)
	if err != nil {
		return nil, fmt.Errorf("transient client certificate: %w", err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	cfg.ServerName = o.serverName
	log.Info().Str("fingerprint", identity.Of(cert.Certificate[0]).String()).Str("subject", cert.Leaf.Subject.String()).
		Time("not_after", cert.Leaf.NotAfter).Msg("transient client certificate")
	return cfg, nil
}
