package tlsbridge

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// LoadConfig reads the server certificate, its key and (unless insecure)
// the CA that signs client certificates from PEM files. Errors name the
// file and what is wrong with it.
func LoadConfig(certFile, keyFile, caFile string, insecure bool) (Config, error) {
	mode := ClientAuthVerify
	if insecure {
		mode = ClientAuthNone
	}
	cfg, err := Load(Files{Cert: certFile, Key: keyFile, CA: caFile, ClientAuth: mode})
	cfg.Insecure = insecure
	return cfg, err
}

// Files names the PEM files of a TLS policy.
type Files struct {
	Cert, Key string // the default server certificate and its key
	// CA signs client certificates; read only when ClientAuth verifies
	// chains (verify, optional).
	CA         string
	ClientAuth ClientAuth
	SNI        []SNIFiles
}

// SNIFiles are the files of one SNI certificate.
type SNIFiles struct {
	Name      string // a host name or *.domain
	Cert, Key string
}

// ParseSNI reads NAME=CERT,KEY (the --sni flag's form).
func ParseSNI(s string) (SNIFiles, error) {
	name, files, ok := strings.Cut(s, "=")
	cert, key, ok2 := strings.Cut(files, ",")
	if !ok || !ok2 || name == "" || cert == "" || key == "" || strings.Contains(key, ",") {
		return SNIFiles{}, fmt.Errorf("want NAME=CERT,KEY, e.g. a.example.com=a-cert.pem,a-key.pem")
	}
	name = NormalizeServerName(name)
	if err := checkSNIName(name); err != nil {
		return SNIFiles{}, fmt.Errorf("name %q: %w", name, err)
	}
	return SNIFiles{Name: name, Cert: cert, Key: key}, nil
}

// Load reads every file f names into a Config. Errors name the file and
// what is wrong with it.
func Load(f Files) (Config, error) {
	cert, err := loadKeyPair("server", f.Cert, f.Key)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Certificate: cert, ClientAuth: f.ClientAuth}
	for _, s := range f.SNI {
		c, err := loadKeyPair("SNI "+s.Name, s.Cert, s.Key)
		if err != nil {
			return Config{}, err
		}
		cfg.SNI = append(cfg.SNI, SNICertificate{Name: s.Name, Certificate: c})
	}
	if !f.ClientAuth.needsCAs() {
		return cfg, nil
	}
	if cfg.ClientCAs, err = loadCAs(f.CA); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func loadKeyPair(what, certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readPEM(what+" certificate", certFile, "CERTIFICATE")
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPEM(what+" key", keyFile, "")
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsbridge: %s key %s does not match certificate %s: %w", what, keyFile, certFile, err)
	}
	return cert, nil
}

func loadCAs(caFile string) (*x509.CertPool, error) {
	caPEM, err := readPEM("CA certificate", caFile, "CERTIFICATE")
	if err != nil {
		return nil, err
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
			return nil, fmt.Errorf("tlsbridge: CA certificate %s: certificate %d does not parse: %w", caFile, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("tlsbridge: CA certificate %s has no certificates", caFile)
	}
	return pool, nil
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
