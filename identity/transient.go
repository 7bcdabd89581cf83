package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// DefaultTransientValidity is how long a transient certificate is valid:
// long enough for any session or load test, short enough that a leaked
// one soon stops mattering.
const DefaultTransientValidity = 7 * 24 * time.Hour

// Transient makes a self-signed client certificate with a fresh ECDSA
// P-256 key: a new identity that no CA vouches for, which a server in
// --client-auth any mode accepts and names by its fingerprint.
// validity 0 means DefaultTransientValidity. Validity starts an hour ago
// to tolerate clock skew.
func Transient(commonName string, validity time.Duration) (tls.Certificate, error) {
	if validity <= 0 {
		validity = DefaultTransientValidity
	}
	now := time.Now()
	return SelfSigned(commonName, now.Add(-time.Hour), now.Add(validity))
}

// SelfSigned makes a self-signed ECDSA P-256 client certificate valid
// from notBefore to notAfter (tests use it for expired certificates).
func SelfSigned(commonName string, notBefore, notAfter time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: parse certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
