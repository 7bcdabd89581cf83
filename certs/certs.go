package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Reference file names inside the certificates directory.
const (
	CACertFile     = "ca_cert.pem"
	ServerCertFile = "server-cert.pem"
	ServerKeyFile  = "server-key.pem"
	ClientCertFile = "client_cert.pem"
	ClientKeyFile  = "ec_private_key.pem"
)

// ErrExist is returned by Write when a target file exists and overwriting
// was not asked for.
var ErrExist = errors.New("certificate file already exists")

// DefaultHosts are the names the development server certificate covers.
var defaultHosts = []string{"localhost", "127.0.0.1", "::1"}

// DefaultHosts returns the names a development server certificate covers.
func DefaultHosts() []string { return append([]string(nil), defaultHosts...) }

// Options shape a PKI. The zero value is usable.
type Options struct {
	// Hosts the server certificate is valid for (DNS names or IPs).
	// Empty means DefaultHosts.
	Hosts []string
	// Validity of every certificate; zero means one year.
	Validity time.Duration
	// Now is the start of validity; zero means time.Now().
	Now time.Time
	// ClientCommonName is the client certificate's subject CN; empty means
	// "tlslp-client".
	ClientCommonName string
}

// Pair is a certificate and its private key, both PEM.
type Pair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// TLS parses the pair into a tls.Certificate.
func (p Pair) TLS() (tls.Certificate, error) {
	c, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parse key pair: %w", err)
	}
	return c, nil
}

// Chain parses the certificates in CertPEM, leaf first.
func (p Pair) Chain() ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := p.CertPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no CERTIFICATE block")
	}
	return chain, nil
}

// PKI is a CA with one server and one client certificate it signed.
type PKI struct {
	CA     Pair
	Server Pair
	Client Pair
	caCert *x509.Certificate
}

// CertPool returns a pool holding only this PKI's CA.
func (p *PKI) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	return pool
}

// ClientConfig is a mutual-TLS client configuration for this PKI: it
// trusts only the CA and presents the client certificate. serverName may
// be empty when the caller sets it per connection.
func (p *PKI) ClientConfig(serverName string) (*tls.Config, error) {
	cert, err := p.Client.TLS()
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return &tls.Config{
		RootCAs:      p.CertPool(),
		Certificates: []tls.Certificate{cert},
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// New generates a fresh CA, server and client certificate.
func New(opts Options) (*PKI, error) {
	if len(opts.Hosts) == 0 {
		opts.Hosts = defaultHosts
	}
	if opts.Validity <= 0 {
		opts.Validity = 365 * 24 * time.Hour
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.ClientCommonName == "" {
		opts.ClientCommonName = "tlslp-client"
	}
	notBefore := opts.Now.Add(-time.Hour) // tolerate small clock skew
	notAfter := opts.Now.Add(opts.Validity)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "tlslpd development CA", Organization: []string{"tlslpd"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caPair, caCert, err := sign(caTmpl, caKey, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}

	serverTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: opts.Hosts[0], Organization: []string{"tlslpd"}},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range opts.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			serverTmpl.IPAddresses = append(serverTmpl.IPAddresses, ip)
		} else {
			serverTmpl.DNSNames = append(serverTmpl.DNSNames, h)
		}
	}
	serverPair, _, err := signNewKey(serverTmpl, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}

	clientTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: opts.ClientCommonName, Organization: []string{"tlslpd"}},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	clientPair, _, err := signNewKey(clientTmpl, caCert, caKey)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	return &PKI{CA: caPair, Server: serverPair, Client: clientPair, caCert: caCert}, nil
}

func signNewKey(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (Pair, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, nil, fmt.Errorf("generate key: %w", err)
	}
	return sign(tmpl, key, parent, parentKey)
}

// sign issues tmpl for key, signed by parentKey (self-signed when parent is nil).
func sign(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (Pair, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return Pair{}, nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return Pair{}, nil, fmt.Errorf("marshal public key: %w", err)
	}
	ski := sha256.Sum256(pub)
	tmpl.SubjectKeyId = ski[:20]
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return Pair{}, nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, nil, fmt.Errorf("parse certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Pair{}, nil, fmt.Errorf("marshal private key: %w", err)
	}
	return Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, cert, nil
}

// Files lists the paths Write produced.
type Files struct {
	CACert, ServerCert, ServerKey, ClientCert, ClientKey string
}

// FilesIn names the reference files inside dir.
func FilesIn(dir string) Files {
	return Files{
		CACert:     filepath.Join(dir, CACertFile),
		ServerCert: filepath.Join(dir, ServerCertFile),
		ServerKey:  filepath.Join(dir, ServerKeyFile),
		ClientCert: filepath.Join(dir, ClientCertFile),
		ClientKey:  filepath.Join(dir, ClientKeyFile),
	}
}

// Write stores the PKI in dir under the reference names (creating dir).
// Unless overwrite is set it refuses, touching nothing, when any target
// exists. Private keys are written 0600.
func (p *PKI) Write(dir string, overwrite bool) (Files, error) {
	files := FilesIn(dir)
	entries := []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{files.CACert, p.CA.CertPEM, 0o644},
		{files.ServerCert, p.Server.CertPEM, 0o644},
		{files.ServerKey, p.Server.KeyPEM, 0o600},
		{files.ClientCert, p.Client.CertPEM, 0o644},
		{files.ClientKey, p.Client.KeyPEM, 0o600},
	}
	if !overwrite {
		for _, e := range entries {
			if _, err := os.Lstat(e.path); err == nil {
				return files, fmt.Errorf("%s: %w (pass --force to replace)", e.path, ErrExist)
			} else if !errors.Is(err, os.ErrNotExist) {
				return files, fmt.Errorf("check %s: %w", e.path, err)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return files, fmt.Errorf("create %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := writeFileAtomic(e.path, e.data, e.mode); err != nil {
			return files, err
		}
	}
	return files, nil
}

// writeFileAtomic writes via a temporary file and rename so a reader (or a
// reload) never sees a half-written PEM.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
