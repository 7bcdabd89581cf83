package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewChainsVerify(t *testing.T) {
	pki, err := New(Options{})
	require.NoError(t, err)

	server, err := pki.Server.Chain()
	require.NoError(t, err)
	client, err := pki.Client.Chain()
	require.NoError(t, err)

	tests := []struct {
		name  string
		chain []*x509.Certificate
		host  string
		usage x509.ExtKeyUsage
	}{
		{"server localhost", server, "localhost", x509.ExtKeyUsageServerAuth},
		{"server ipv4", server, "127.0.0.1", x509.ExtKeyUsageServerAuth},
		{"server ipv6", server, "::1", x509.ExtKeyUsageServerAuth},
		{"client", client, "", x509.ExtKeyUsageClientAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.chain[0].Verify(x509.VerifyOptions{
				DNSName:   tc.host,
				Roots:     pki.CertPool(),
				KeyUsages: []x509.ExtKeyUsage{tc.usage},
			})
			require.NoError(t, err)
		})
	}
}

func TestPairChain(t *testing.T) {
	pki, err := New(Options{ClientCommonName: "chain-test"})
	require.NoError(t, err)
	tests := []struct {
		name      string
		pair      Pair
		wantCN    []string
		wantError string
	}{
		{"leaf", pki.Client, []string{"chain-test"}, ""},
		{"key blocks are skipped", Pair{CertPEM: append(append([]byte{}, pki.Client.KeyPEM...), pki.Client.CertPEM...)}, []string{"chain-test"}, ""},
		{"no certificate", Pair{CertPEM: pki.Client.KeyPEM}, nil, "no CERTIFICATE"},
		{"not PEM", Pair{CertPEM: []byte("junk")}, nil, "no CERTIFICATE"},
		{"bad DER", Pair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})}, nil, "parse certificate 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chain, err := tc.pair.Chain()
			if tc.wantError != "" {
				require.ErrorContains(t, err, tc.wantError)
				return
			}
			require.NoError(t, err)
			var cns []string
			for _, c := range chain {
				cns = append(cns, c.Subject.CommonName)
			}
			assert.Equal(t, tc.wantCN, cns)
		})
	}
}

func TestOtherCADoesNotVerify(t *testing.T) {
	a, err := New(Options{})
	require.NoError(t, err)
	b, err := New(Options{})
	require.NoError(t, err)
	cert, err := a.Client.TLS()
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(t, err)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: b.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.Error(t, err)
}

func TestExpiredValidity(t *testing.T) {
	pki, err := New(Options{Now: time.Now().Add(-48 * time.Hour), Validity: 24 * time.Hour})
	require.NoError(t, err)
	cert, err := pki.Server.TLS()
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	require.NoError(t, err)
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: pki.CertPool()})
	require.Error(t, err)
}

func TestWriteRefusesOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certificates")
	pki, err := New(Options{})
	require.NoError(t, err)

	files, err := pki.Write(dir, false)
	require.NoError(t, err)
	for _, p := range []string{files.CACert, files.ServerCert, files.ServerKey, files.ClientCert, files.ClientKey} {
		_, err := os.Stat(p)
		require.NoError(t, err, p)
	}
	info, err := os.Stat(files.ClientKey)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	before, err := os.ReadFile(files.ServerCert)
	require.NoError(t, err)

	other, err := New(Options{})
	require.NoError(t, err)
	_, err = other.Write(dir, false)
	require.ErrorIs(t, err, ErrExist)
	after, err := os.ReadFile(files.ServerCert)
	require.NoError(t, err)
	assert.Equal(t, before, after, "a refused write must not touch files")

	_, err = other.Write(dir, true)
	require.NoError(t, err)
	replaced, err := os.ReadFile(files.ServerCert)
	require.NoError(t, err)
	assert.Equal(t, other.Server.CertPEM, replaced)

	// The written files load as the reference client and server would.
	_, err = tls.LoadX509KeyPair(files.ClientCert, files.ClientKey)
	require.NoError(t, err)
	_, err = tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	require.NoError(t, err)
}

func TestClientConfigHandshakes(t *testing.T) {
	pki, err := New(Options{})
	require.NoError(t, err)
	other, err := New(Options{})
	require.NoError(t, err)
	tests := []struct {
		name    string
		server  *PKI // whose server certificate and client CA the server uses
		wantErr bool
	}{
		{"same PKI: mutual TLS succeeds", pki, false},
		{"another CA's server is not trusted", other, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srvCert, err := tc.server.Server.TLS()
			require.NoError(t, err)
			cc, err := pki.ClientConfig("localhost")
			require.NoError(t, err)
			c, s := net.Pipe()
			defer c.Close()
			defer s.Close()
			srv := tls.Server(s, &tls.Config{
				Certificates: []tls.Certificate{srvCert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    tc.server.CertPool(),
			})
			srvErr := make(chan error, 1)
			go func() { srvErr <- srv.Handshake() }()
			cliErr := tls.Client(c, cc).Handshake()
			if tc.wantErr {
				require.Error(t, cliErr)
				return
			}
			require.NoError(t, cliErr)
			require.NoError(t, <-srvErr, "the server accepted the client certificate")
			require.Len(t, srv.ConnectionState().PeerCertificates, 1)
		})
	}
}
