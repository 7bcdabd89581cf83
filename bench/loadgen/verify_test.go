package loadgen

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
)

// memoStep is one check of a chain at a time.
type memoStep struct {
	chain []*x509.Certificate
	at    time.Time
	// dropRoots empties the roots before the step: only a remembered
	// chain can pass then.
	dropRoots bool
	wantError string
}

func TestChainMemo(t *testing.T) {
	now := time.Now()
	pki, err := certs.New(certs.Options{Now: now, Validity: time.Hour})
	require.NoError(t, err)
	other, err := certs.New(certs.Options{Now: now, Validity: time.Hour})
	require.NoError(t, err)
	good, err := pki.Server.Chain()
	require.NoError(t, err)
	foreign, err := other.Server.Chain()
	require.NoError(t, err)

	tests := []struct {
		name       string
		serverName string
		steps      []memoStep
	}{
		{name: "verified once, then remembered", serverName: "localhost", steps: []memoStep{
			{chain: good, at: now},
			{chain: good, at: now.Add(time.Minute), dropRoots: true},
		}},
		{name: "another chain is checked afresh", serverName: "localhost", steps: []memoStep{
			{chain: good, at: now},
			{chain: foreign, at: now, wantError: "unknown authority"},
			{chain: good, at: now, dropRoots: true}, // the failure did not replace the memo
		}},
		{name: "remembered only while every certificate is valid", serverName: "localhost", steps: []memoStep{
			{chain: good, at: now},
			{chain: good, at: now.Add(2 * time.Hour), wantError: "expired"},
		}},
		{name: "host name checked", serverName: "elsewhere.example", steps: []memoStep{
			{chain: good, at: now, wantError: "elsewhere.example"},
			{chain: good, at: now, wantError: "elsewhere.example"},
		}},
		{name: "no certificate", serverName: "localhost", steps: []memoStep{
			{chain: nil, at: now, wantError: "no certificate"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &chainMemo{roots: pki.CertPool(), serverName: tc.serverName}
			for i, st := range tc.steps {
				if st.dropRoots {
					m.roots = x509.NewCertPool()
				}
				err := m.check(st.chain, st.at)
				if st.wantError == "" {
					require.NoError(t, err, "step %d", i)
					continue
				}
				require.ErrorContains(t, err, st.wantError, "step %d", i)
			}
		})
	}
}

func TestMemoizeChainCheckOnlyWhenCryptoTLSWouldCheck(t *testing.T) {
	tests := []struct {
		name     string
		cfg      *tls.Config
		memoized bool
	}{
		{"verifying config", &tls.Config{ServerName: "localhost"}, true},
		{"insecure config", &tls.Config{ServerName: "localhost", InsecureSkipVerify: true}, false},
		{"no server name", &tls.Config{}, false},
		{"own VerifyConnection", &tls.Config{ServerName: "localhost", VerifyConnection: func(tls.ConnectionState) error { return nil }}, false},
		{"own VerifyPeerCertificate", &tls.Config{ServerName: "localhost", VerifyPeerCertificate: func([][]byte, [][]*x509.Certificate) error { return nil }}, false},
		{"own clock", &tls.Config{ServerName: "localhost", Time: time.Now}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.cfg.InsecureSkipVerify
			memoizeChainCheck(tc.cfg)
			// Memoizing swaps crypto/tls's chain check for the memo's.
			assert.Equal(t, tc.memoized, tc.cfg.InsecureSkipVerify != before)
		})
	}
}
