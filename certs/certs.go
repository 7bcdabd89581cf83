package certs

import (
	"crypto"
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
	CAKeyFile      = "ca_key.pem"
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
	// Validity of the server and client certificates; zero means
	// DefaultValidity (one year).
	Validity time.Duration
	// CAValidity is the CA's; zero means DefaultCAValidity (ten years).
	CAValidity time.Duration
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
	CA     Pair // CA.KeyPEM is the CA's private key (ca_key.pem)
	Server Pair
	Client Pair
	ca     *CA
}

// CertPool returns a pool holding only this PKI's CA.
func (p *PKI) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	return pool
}

// Authority returns the PKI's CA, to sign further certificates with.
func (p *PKI) Authority() *CA { return p.ca }

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

// Default validities: the CA's matches the reference's certificate
// script (ten years); leaf certificates last one year.
const (
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	DefaultValidity   = 365 * 24 * time.Hour
)

func (o *Options) fill() {
	if len(o.Hosts) == 0 {
		o.Hosts = defaultHosts
	}
	if o.Validity <= 0 {
		o.Validity = DefaultValidity
	}
	if o.CAValidity <= 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.ClientCommonName == "" {
		o.ClientCommonName = "tlslp-client"
	}
}

// CA is a certificate authority that can sign more certificates.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     crypto.Signer
}

// NewCA generates a self-signed CA valid for opts.CAValidity.
func NewCA(opts Options) (*CA, Pair, error) {
	opts.fill()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, Pair{}, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "tlslpd development CA", Organization: []string{"tlslpd"}},
		NotBefore:             opts.Now.Add(-time.Hour), // tolerate small clock skew
		NotAfter:              opts.Now.Add(opts.CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	pair, cert, err := sign(tmpl, key, nil, nil)
	if err != nil {
		return nil, Pair{}, fmt.Errorf("CA certificate: %w", err)
	}
	return &CA{Cert: cert, CertPEM: pair.CertPEM, Key: key}, pair, nil
}

// LoadCA reads a CA certificate and its private key (EC, PKCS#8 or
// PKCS#1 PEM), e.g. ca_cert.pem and ca_key.pem.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	chain, err := Pair{CertPEM: certPEM}.Chain()
	if err != nil {
		return nil, fmt.Errorf("CA certificate %s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key %s: %w", keyPath, err)
	}
	if !chain[0].IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate", certPath)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, fmt.Errorf("CA key %s does not belong to %s", keyPath, certPath)
	}
	return &CA{Cert: chain[0], CertPEM: certPEM, Key: key}, nil
}

func parseKey(data []byte) (crypto.Signer, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no private key PEM block")
		}
		var key any
		var err error
		switch block.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		default:
			continue // e.g. "EC PARAMETERS" before the key
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s cannot sign", block.Type)
		}
		return signer, nil
	}
}

// IssueServer signs a new server certificate for opts.Hosts.
func (ca *CA) IssueServer(opts Options) (Pair, error) {
	opts.fill()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: opts.Hosts[0], Organization: []string{"tlslpd"}},
		NotBefore:   opts.Now.Add(-time.Hour),
		NotAfter:    opts.Now.Add(opts.Validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range opts.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	pair, _, err := signNewKey(tmpl, ca.Cert, ca.Key)
	if err != nil {
		return Pair{}, fmt.Errorf("server certificate: %w", err)
	}
	return pair, nil
}

// IssueClient signs a new client certificate with subject CN
// opts.ClientCommonName.
func (ca *CA) IssueClient(opts Options) (Pair, error) {
	opts.fill()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: opts.ClientCommonName, Organization: []string{"tlslpd"}},
		NotBefore:   opts.Now.Add(-time.Hour),
		NotAfter:    opts.Now.Add(opts.Validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	pair, _, err := signNewKey(tmpl, ca.Cert, ca.Key)
	if err != nil {
		return Pair{}, fmt.Errorf("client certificate: %w", err)
	}
	return pair, nil
}

// New generates a fresh CA, server and client certificate.
func New(opts Options) (*PKI, error) {
	opts.fill()
	ca, caPair, err := NewCA(opts)
	if err != nil {
		return nil, err
	}
	server, err := ca.IssueServer(opts)
	if err != nil {
		return nil, err
	}
	client, err := ca.IssueClient(opts)
	if err != nil {
		return nil, err
	}
	return &PKI{CA: caPair, Server: server, Client: client, ca: ca}, nil
}

func signNewKey(tmpl, parent *x509.Certificate, parentKey crypto.Signer) (Pair, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, nil, fmt.Errorf("generate key: %w", err)
	}
	return sign(tmpl, key, parent, parentKey)
}

// sign issues tmpl for key, signed by parentKey (self-signed when parent is nil).
func sign(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey crypto.Signer) (Pair, *x509.Certificate, error) {
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
	CACert, CAKey, ServerCert, ServerKey, ClientCert, ClientKey string
}

// FilesIn names the reference files inside dir.
func FilesIn(dir string) Files {
	return Files{
		CACert:     filepath.Join(dir, CACertFile),
		CAKey:      filepath.Join(dir, CAKeyFile),
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
		{files.CAKey, p.CA.KeyPEM, 0o600},
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
