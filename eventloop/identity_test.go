package eventloop

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/identity"
	"tlslpd/metrics"
	"tlslpd/tlsbridge"
)

// identityServer serves --client-auth any with identity rules and an SNI
// certificate for a.example.
func identityServer(t *testing.T, opts identity.Options) (*harness, *identity.Rules) {
	t.Helper()
	rules, err := identity.New(opts)
	require.NoError(t, err)
	h := startServer(t, func(c *Config) {
		c.Identities = rules
	})
	def, err := h.pki.Server.TLS()
	require.NoError(t, err)
	aPair, err := h.pki.Authority().IssueServer(certs.Options{Hosts: []string{"a.example"}})
	require.NoError(t, err)
	aCert, err := aPair.TLS()
	require.NoError(t, err)
	// The harness built its engines before the rules existed: switch the
	// same Server to this policy, as a reload would.
	require.NoError(t, h.tls.Reload(tlsbridge.Config{
		Certificate: def,
		ClientAuth:  tlsbridge.ClientAuthAny,
		SNI:         []tlsbridge.SNICertificate{{Name: "a.example", Certificate: aCert}},
		Identity: func(leaf *x509.Certificate) error {
			if leaf == nil {
				return rules.Check(identity.Fingerprint{}, false)
			}
			return rules.Check(identity.Of(leaf.Raw), true)
		},
	}))
	return h, rules
}

func transientConfig(h *harness, cert tls.Certificate, serverName string) *tls.Config {
	return &tls.Config{RootCAs: h.pki.CertPool(), ServerName: serverName, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
}

func TestIdentityCapAndRecord(t *testing.T) {
	me, err := identity.Transient("load-7", 0)
	require.NoError(t, err)
	h, rules := identityServer(t, identity.Options{MaxConnsPerIdentity: 1})
	cfg := transientConfig(h, me, "a.example")

	first, err := h.dialAs(t, cfg)
	require.NoError(t, err)
	defer first.conn.Close()
	first.expect("HELLO")
	assert.Equal(t, "a.example", first.conn.ConnectionState().PeerCertificates[0].Subject.CommonName, "the SNI certificate")

	second, err := h.dialAs(t, cfg)
	require.NoError(t, err)
	defer second.conn.Close()
	second.expect("FAIL Too many sessions for this client certificate.")
	second.expectClosed()
	assert.Equal(t, 1.0, testutil.ToFloat64(h.met.RefusedCounter(metrics.RefusedMaxConnsPerIdentity)))
	assert.Equal(t, uint64(1), rules.Decided(identity.DecisionOverLimit))

	other, err := identity.Transient("load-8", 0)
	require.NoError(t, err)
	third, err := h.dialAs(t, transientConfig(h, other, "localhost"))
	require.NoError(t, err)
	defer third.conn.Close()
	third.expect("HELLO") // another identity has its own count

	playSessionAfterHello(t, first)
	rec := h.record()
	assert.Equal(t, "completed", rec.Outcome)
	assert.Equal(t, identity.Of(me.Certificate[0]).String(), rec.Fingerprint)
	assert.Equal(t, "CN=load-7", rec.Subject)
	assert.Equal(t, "a.example", rec.ServerName)
	require.Eventually(t, func() bool { return rules.Sessions(identity.Of(me.Certificate[0])) == 0 }, ioBound, 10*time.Millisecond,
		"the ended session is released")

	again, err := h.dialAs(t, cfg)
	require.NoError(t, err)
	defer again.conn.Close()
	again.expect("HELLO")
	// Every handshake passed the lists (the refused second one too: the
	// cap is a session decision, counted as over_limit).
	assert.Equal(t, uint64(4), rules.Decided(identity.DecisionAllowed))
}

// playSessionAfterHello finishes a session whose HELLO was read.
func playSessionAfterHello(t *testing.T, p *peer) {
	p.send("HELLOBACK")
	p.expect("WORK AUTH 8")
	answerToDone(t, p)
	p.send("OK")
	p.expectClosed()
}

func TestDeniedIdentityIsRefusedInTheHandshake(t *testing.T) {
	denied, err := identity.Transient("denied", 0)
	require.NoError(t, err)
	deny := filepath.Join(t.TempDir(), "deny.txt")
	require.NoError(t, os.WriteFile(deny, []byte(identity.Of(denied.Certificate[0]).String()+" a comment\n"), 0o600))
	h, rules := identityServer(t, identity.Options{DenyFile: deny})

	p, err := h.dialAs(t, transientConfig(h, denied, "localhost"))
	require.NoError(t, err)
	defer p.conn.Close()
	err = p.conn.Handshake()
	if err == nil { // TLS 1.3: the client learns on its first read
		_, err = p.r.ReadString('\n')
	}
	require.Error(t, err)
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.met.HandshakeCounter(metrics.HandshakeBadCertificate)) == 1 }, ioBound, 10*time.Millisecond)
	assert.Equal(t, uint64(1), rules.Decided(identity.DecisionDenied))
	assert.Zero(t, testutil.ToFloat64(h.met.HandshakesOK))
}

// --client-auth optional end to end: no certificate is served and
// recorded as anonymous, a CA-signed one is verified and named, a
// self-signed one is refused.
func TestOptionalClientAuth(t *testing.T) {
	rules, err := identity.New(identity.Options{})
	require.NoError(t, err)
	h := startServer(t, func(c *Config) { c.Identities = rules })
	def, err := h.pki.Server.TLS()
	require.NoError(t, err)
	require.NoError(t, h.tls.Reload(tlsbridge.Config{
		Certificate: def, ClientCAs: h.pki.CertPool(), ClientAuth: tlsbridge.ClientAuthOptional,
		Identity: func(leaf *x509.Certificate) error {
			if leaf == nil {
				return rules.Check(identity.Fingerprint{}, false)
			}
			return rules.Check(identity.Of(leaf.Raw), true)
		},
	}))

	anon := h.dial(noCert)
	playSession(t, anon, 20, func(string) string { return "v" })
	rec := h.record()
	assert.Empty(t, rec.Fingerprint)
	assert.Empty(t, rec.Subject)
	assert.Equal(t, uint64(1), rules.Decided(identity.DecisionAnonymous))

	named := h.dial(withCert)
	playSession(t, named, 20, func(string) string { return "v" })
	rec = h.record()
	assert.Len(t, rec.Fingerprint, 64)
	assert.Equal(t, "CN=tlslp-client,O=tlslpd", rec.Subject)
	assert.Equal(t, uint64(1), rules.Decided(identity.DecisionAllowed))

	self, err := identity.Transient("self", 0)
	require.NoError(t, err)
	cfg := transientConfig(h, self, "localhost")
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &self, nil } // shown although the CA list does not name its issuer
	p, err := h.dialAs(t, cfg)
	require.NoError(t, err)
	defer p.conn.Close()
	err = p.conn.Handshake()
	if err == nil {
		_, err = p.r.ReadString('\n')
	}
	require.Error(t, err, "a certificate that is shown must verify")
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.met.HandshakeCounter(metrics.HandshakeBadCertificate)) == 1 }, ioBound, 10*time.Millisecond)
}

// A subject the client chose is cut in the record (tlsbridge bounds it);
// the fingerprint stays whole.
func TestRecordSubjectIsBounded(t *testing.T) {
	// End to end: a self-signed certificate with a 4 KiB subject.
	huge, err := identity.Transient(strings.Repeat("x", 4096), 0)
	require.NoError(t, err)
	h, _ := identityServer(t, identity.Options{})
	p, err := h.dialAs(t, transientConfig(h, huge, "localhost"))
	require.NoError(t, err)
	playSession(t, p, 20, func(string) string { return "v" })
	rec := h.record()
	assert.Len(t, rec.Fingerprint, 64)
	assert.LessOrEqual(t, len(rec.Subject), 512+len("…"))
	assert.True(t, strings.HasSuffix(rec.Subject, "…"))
}
