package tlsbridge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/identity"
)

// presented is what a test client shows the server.
type presented struct {
	name string
	cert *tls.Certificate // nil: no certificate
}

func clientCerts(t *testing.T, f *fixture) []presented {
	t.Helper()
	other, err := certs.New(certs.Options{})
	require.NoError(t, err)
	otherCA, err := other.Client.TLS()
	require.NoError(t, err)
	transient, err := identity.Transient("transient", 0)
	require.NoError(t, err)
	expired, err := identity.SelfSigned("expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	require.NoError(t, err)
	notYet, err := identity.SelfSigned("not yet", time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour))
	require.NoError(t, err)
	// The transient certificate with someone else's key: its
	// CertificateVerify is signed by a key that is not the leaf's.
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	wrongKey := tls.Certificate{Certificate: transient.Certificate, PrivateKey: otherKey}
	caWrongKey := tls.Certificate{Certificate: f.client.Certificate, PrivateKey: otherKey}
	serverOnly, err := f.pki.Authority().IssueServer(certs.Options{Hosts: []string{"client.example"}})
	require.NoError(t, err)
	serverUsage, err := serverOnly.TLS()
	require.NoError(t, err)
	return []presented{
		{"CA-signed", &f.client},
		{"other CA", &otherCA},
		{"self-signed", &transient},
		{"expired self-signed", &expired},
		{"not yet valid self-signed", &notYet},
		{"CertificateVerify by another key", &wrongKey},
		{"CA-signed, CertificateVerify by another key", &caWrongKey},
		{"server-auth-only from the CA", &serverUsage},
		{"none", nil},
	}
}

func TestClientAuthModes(t *testing.T) {
	f := newFixture(t)
	cs := clientCerts(t, f)
	// accepted[mode] lists the presentations the mode accepts.
	accepted := map[ClientAuth][]string{
		ClientAuthVerify:   {"CA-signed"},
		ClientAuthAny:      {"CA-signed", "other CA", "self-signed"},
		ClientAuthOptional: {"CA-signed", "none"},
		ClientAuthNone:     {"CA-signed", "other CA", "self-signed", "expired self-signed", "not yet valid self-signed", "CertificateVerify by another key", "CA-signed, CertificateVerify by another key", "server-auth-only from the CA", "none"},
	}
	for _, mode := range []ClientAuth{ClientAuthVerify, ClientAuthAny, ClientAuthOptional, ClientAuthNone} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			ts := f.newServer(t, func(c *Config) { c.ClientAuth = mode })
			for _, p := range cs {
				t.Run(mode.String()+"/"+tls.VersionName(version)+"/"+p.name, func(t *testing.T) {
					cc := f.clientConfig(version)
					cc.Certificates = nil
					// Present the certificate whatever CAs the server
					// names: a Go client would otherwise send none.
					cc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
						if p.cert == nil {
							return &tls.Certificate{}, nil
						}
						return p.cert, nil
					}
					h := newHarness(t, ts, cc)
					_ = h.handshake()
					want := contains(accepted[mode], p.name)
					if !want {
						assert.Equal(t, Failed, h.eng.State(), "must refuse")
						assert.ErrorIs(t, h.eng.Err(), ErrHandshake)
						if why, ok := refusalReason[p.name]; ok {
							assert.ErrorContains(t, h.eng.Err(), why, "refused for the right reason")
						}
						return
					}
					require.Equal(t, Established, h.eng.State(), "must accept; engine err: %v", h.eng.Err())
					peer := h.eng.Peer()
					if p.cert == nil || mode == ClientAuthNone {
						assert.False(t, peer.HasCert)
						assert.Zero(t, peer.Fingerprint)
						return
					}
					leaf, err := x509.ParseCertificate(p.cert.Certificate[0])
					require.NoError(t, err)
					assert.True(t, peer.HasCert)
					assert.Equal(t, sha256.Sum256(p.cert.Certificate[0]), peer.Fingerprint, "the identity is the leaf's fingerprint")
					assert.Equal(t, leaf.Subject.String(), peer.Subject)
				})
			}
		}
	}
}

// refusalReason is what the error says when a presentation is refused.
var refusalReason = map[string]string{
	"CA-signed, CertificateVerify by another key": "signature",
	"expired self-signed":                         "expired",
	"not yet valid self-signed":                   "expired", // x509's word for outside the validity dates
	"none":                                        "didn't provide a certificate",
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestClientAuthConfigErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"verify without CAs", Config{Certificate: f.serverCert}, "ClientCAs is required"},
		{"optional without CAs", Config{Certificate: f.serverCert, ClientAuth: ClientAuthOptional}, "ClientCAs is required"},
		{"insecure with any", Config{Certificate: f.serverCert, Insecure: true, ClientAuth: ClientAuthAny}, "contradicts"},
		{"unknown mode", Config{Certificate: f.serverCert, ClientAuth: 9}, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServer(tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := NewServer(Config{Certificate: f.serverCert, ClientAuth: ClientAuthAny})
	assert.NoError(t, err, "any needs no CA")
	_, err = NewServer(Config{Certificate: f.serverCert, Insecure: true, ClientAuth: ClientAuthNone})
	assert.NoError(t, err)
}

func TestParseClientAuth(t *testing.T) {
	for i, n := range []string{"verify", "any", "optional", "none"} {
		got, err := ParseClientAuth(n)
		require.NoError(t, err)
		assert.Equal(t, ClientAuth(i), got)
		assert.Equal(t, n, got.String())
	}
	_, err := ParseClientAuth("yes")
	assert.ErrorContains(t, err, "want verify, any, optional or none")
}

// The identity hook judges full handshakes and resumptions alike, with
// the rules in force at the time.
func TestIdentityHookRefusesAndResumptionIsRejudged(t *testing.T) {
	f := newFixture(t)
	transient, err := identity.Transient("me", 0)
	require.NoError(t, err)
	fp := identity.Of(transient.Certificate[0])
	var deny atomic.Bool
	var seen atomic.Int64
	ts := f.newServer(t, func(c *Config) {
		c.ClientAuth = ClientAuthAny
		c.Identity = func(leaf *x509.Certificate) error {
			seen.Add(1)
			if leaf != nil && deny.Load() && identity.Of(leaf.Raw) == fp {
				return identity.ErrDenied
			}
			return nil
		}
	})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			deny.Store(false)
			cc := f.clientConfig(version)
			cc.Certificates = []tls.Certificate{transient}
			cc.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			h := established(t, ts, cc)
			assert.False(t, h.eng.Peer().Resumed)
			if version == tls.VersionTLS13 {
				// The TLS 1.3 ticket arrives after the handshake.
				h.eng.Write([]byte("x"))
				_, err := h.clientRead(1)
				require.NoError(t, err)
			}
			h = established(t, ts, cc)
			require.True(t, h.eng.Peer().Resumed, "the session resumes")

			deny.Store(true)
			before := seen.Load()
			h = newHarness(t, ts, cc)
			_ = h.handshake()
			assert.Equal(t, Failed, h.eng.State())
			assert.ErrorIs(t, h.eng.Err(), ErrIdentityRefused)
			assert.ErrorIs(t, h.eng.Err(), identity.ErrDenied)
			assert.Greater(t, seen.Load(), before, "a resumption is judged too")
		})
	}
}

func TestSNISelection(t *testing.T) {
	f := newFixture(t)
	issue := func(host string) tls.Certificate {
		p, err := f.pki.Authority().IssueServer(certs.Options{Hosts: []string{host}})
		require.NoError(t, err)
		c, err := p.TLS()
		require.NoError(t, err)
		return c
	}
	ts := f.newServer(t, func(c *Config) {
		c.SNI = []SNICertificate{
			{Name: "a.example", Certificate: issue("a.example")},
			{Name: "*.b.example", Certificate: issue("*.b.example")},
			{Name: "exact.b.example", Certificate: issue("exact.b.example")},
		}
	})
	for _, tc := range []struct {
		serverName string
		wantCN     string // the served certificate's subject CN
	}{
		{"a.example", "a.example"},
		{"A.EXAMPLE", "a.example"},
		{"x.b.example", "*.b.example"},
		{"exact.b.example", "exact.b.example"}, // exact wins over the wildcard
		{"b.example", "localhost"},             // a wildcard does not match its parent
		{"y.x.b.example", "localhost"},         // nor two labels down
		{"other.example", "localhost"},         // no match: the default
		{"", "localhost"},                      // no SNI: the default
	} {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(tc.serverName+"/"+tls.VersionName(version), func(t *testing.T) {
				cc := f.clientConfig(version)
				cc.ServerName = tc.serverName
				cc.InsecureSkipVerify = true // the test checks which certificate came
				h := established(t, ts, cc)
				st := h.client.ConnectionState()
				assert.Equal(t, tc.wantCN, st.PeerCertificates[0].Subject.CommonName)
				assert.Equal(t, NormalizeServerName(tc.serverName), h.eng.Peer().ServerName)
			})
		}
	}
}

func TestSNIConfigErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		sni  []SNICertificate
		want string
	}{
		{"bad name", []SNICertificate{{Name: "a..example", Certificate: f.serverCert}}, "want a host name"},
		{"deep wildcard", []SNICertificate{{Name: "*.*.example", Certificate: f.serverCert}}, "want a host name"},
		{"twice", []SNICertificate{{Name: "a.example", Certificate: f.serverCert}, {Name: "A.example.", Certificate: f.serverCert}}, "given twice"},
		{"no key", []SNICertificate{{Name: "a.example", Certificate: tls.Certificate{Certificate: f.serverCert.Certificate}}}, "no private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServer(Config{Certificate: f.serverCert, ClientAuth: ClientAuthNone, SNI: tc.sni})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseSNI(t *testing.T) {
	got, err := ParseSNI("A.Example.=a.pem,a.key")
	require.NoError(t, err)
	assert.Equal(t, SNIFiles{Name: "a.example", Cert: "a.pem", Key: "a.key"}, got)
	for _, bad := range []string{"a.example", "a.example=a.pem", "=a.pem,a.key", "a.example=,a.key", "a.example=a.pem,", "a.example=a,b,c", "a/b=a,b"} {
		_, err := ParseSNI(bad)
		assert.Error(t, err, bad)
	}
}

func TestBoundSubject(t *testing.T) {
	assert.Equal(t, "CN=a", boundSubject("CN=a"))
	long := "CN=" + strings.Repeat("é", 400) // 803 bytes, two per rune
	got := boundSubject(long)
	assert.LessOrEqual(t, len(got), maxSubjectBytes+len("…"))
	assert.True(t, utf8.ValidString(got), "cut at a rune boundary")
	assert.True(t, strings.HasSuffix(got, "…"))
	assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(got, "…")))
}

// In any mode the client alone decides how big its certificates are: a
// bound keeps an established session from holding tens of KiB of them.
func TestAnyModeBoundsCertificateSize(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, func(c *Config) { c.ClientAuth, c.ClientCAs = ClientAuthAny, nil })
	big, err := identity.Transient(strings.Repeat("x", maxAnyChainBytes), 0)
	require.NoError(t, err)
	small, err := identity.Transient(strings.Repeat("x", 4096), 0)
	require.NoError(t, err)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cc := f.clientConfig(version)
		cc.Certificates = []tls.Certificate{big}
		h := newHarness(t, ts, cc)
		_ = h.handshake()
		assert.Equal(t, Failed, h.eng.State())
		assert.ErrorContains(t, h.eng.Err(), "more than")

		cc.Certificates = []tls.Certificate{small}
		h = established(t, ts, cc)
		assert.LessOrEqual(t, len(h.eng.Peer().Subject), maxSubjectBytes+len("…"), "the subject is cut")
		assert.Equal(t, sha256.Sum256(small.Certificate[0]), h.eng.Peer().Fingerprint)
	}
}
