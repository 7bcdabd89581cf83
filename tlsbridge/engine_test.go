package tlsbridge

import (
	"crypto/sha256"
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandshake(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		version  uint16
		insecure bool
		suite    uint16 // TLS 1.2 only: force this suite
	}{
		{name: "tls13 mtls", version: tls.VersionTLS13},
		{name: "tls12 mtls", version: tls.VersionTLS12},
		{name: "tls13 insecure", version: tls.VersionTLS13, insecure: true},
		{name: "tls12 insecure", version: tls.VersionTLS12, insecure: true},
		{name: "tls12 chacha", version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{name: "tls12 aes256", version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := f.newServer(t, func(c *Config) {
				c.Insecure = tc.insecure
				if tc.insecure {
					c.ClientCAs = nil
				}
			})
			cc := f.clientConfig(tc.version)
			asked := false
			cc.Certificates = nil
			cc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				asked = true
				return &f.client, nil
			}
			if tc.suite != 0 {
				cc.CipherSuites = []uint16{tc.suite}
			}
			h := established(t, ts, cc)

			assert.Equal(t, !tc.insecure, asked, "client certificate requested")
			p := h.eng.Peer()
			assert.Equal(t, tc.version, p.Version)
			assert.Equal(t, h.client.ConnectionState().CipherSuite, p.CipherSuite)
			if tc.suite != 0 {
				assert.Equal(t, tc.suite, p.CipherSuite)
			}
			assert.False(t, p.Resumed)
			assert.Equal(t, !tc.insecure, p.HasCert)
			if tc.insecure {
				assert.Empty(t, p.Subject)
				assert.Equal(t, [32]byte{}, p.Fingerprint)
			} else {
				assert.Contains(t, p.Subject, "CN=tlslp-client")
				assert.Equal(t, sha256.Sum256(f.leaf.Raw), p.Fingerprint)
			}
			e := h.eng.(*engine)
			if tc.version == tls.VersionTLS13 {
				assert.NotNil(t, e.rl, "TLS 1.3 runs on the record layer")
				assert.Nil(t, e.conn)
			} else {
				assert.NotNil(t, e.conn, "TLS 1.2 keeps tls.Conn")
				assert.Nil(t, e.rl)
			}

			// Both directions carry data.
			require.NoError(t, h.clientWrite([]byte("HELLOBACK\n"), 10))
			assert.Equal(t, "HELLOBACK\n", string(h.got))
			require.NoError(t, h.eng.Write([]byte("HELLO\n")))
			got, err := h.clientRead(6)
			require.NoError(t, err)
			assert.Equal(t, "HELLO\n", string(got))

			s := ts.Stats()
			assert.Equal(t, int64(1), s.HandshakesOK)
			assert.Zero(t, s.HandshakesFailed)
			assert.Zero(t, s.HandshakesInFlight)
		})
	}
}
