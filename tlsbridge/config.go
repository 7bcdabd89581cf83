package tlsbridge

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadConfig reads the server certificate, its key and (unless insecure)
// the CA that signs client certificates from PEM files. Errors name the
// file and what is wrong with it.
func LoadConfig(certFile, keyFile, caFile string, insecure bool) (Config, error) {
	certPEM, err := readPEM("server certificate", certFile, "CERTIFICATE")
	if err != nil {
		return Config{}, err
	}
	keyPEM, err := readPEM("server key", keyFile, "")
	if err != nil {
		return Config{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return Config{}, fmt.Errorf("tlsbridge: server key %s does not match certificate %s: %w", keyFile, certFile, err)
	}
	cfg := Config{Certificate: cert, Insecure: insecure}
	if insecure {
		return cfg, nil
	}
	caPEM, err := readPEM("CA certificate", caFile, "CERTIFICATE")
	if err != nil {
		return Config{}, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := caPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return Config{}, fmt.Errorf("tlsbridge: CA certificate %s: certificate %d does not parse: %w", caFile, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return Config{}, fmt.Errorf("tlsbridge: CA certificate %s has no certificates", caFile)
	}
	cfg.ClientCAs = pool
	return cfg, nil
}

// readPEM reads a file and checks it holds PEM, and, when wantType is not
// empty, at least one block of that type.
func readPEM(what, file, wantType string) ([]byte, error) {
	if file == "" {
		return nil, fmt.Errorf("tlsbridge: %s: no file given", what)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tlsbridge: %s %s is missing: %w", what, file, err)
		}
		return nil, fmt.Errorf("tlsbridge: read %s %s: %w", what, file, err)
	}
	found, typed := false, false
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		found = true
		if wantType == "" || b.Type == wantType {
			typed = true
		}
	}
	if !found {
		return nil, fmt.Errorf("tlsbridge: %s %s is not PEM", what, file)
	}
	if !typed {
		return nil, fmt.Errorf("tlsbridge: %s %s has no %s block", what, file, wantType)
	}
	return data, nil
}
