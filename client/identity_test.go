package client

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/internal/testenv"
)

// A transient certificate gets a session from a server in any mode, and
// --server-name picks (and verifies) that server's SNI certificate.
func TestMainTransientCertAndServerName(t *testing.T) {
	env := testenv.New(t)
	dir := t.TempDir()
	files, err := env.PKI.Write(dir, false)
	require.NoError(t, err)
	pair, err := env.PKI.Authority().IssueServer(certs.Options{Hosts: []string{"a.example"}})
	require.NoError(t, err)
	aCert, aKey := filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem")
	require.NoError(t, os.WriteFile(aCert, pair.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(aKey, pair.KeyPEM, 0o600))
	anyPort := env.StartTlslpd(t, "--n_bits", "6", "--client-auth", "any", "--sni", "a.example="+aCert+","+aKey)
	verifyPort := env.StartTlslpd(t, "--n_bits", "6")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	base := []string{"--transient-cert", "--ca-cert", files.CACert, "--host", "127.0.0.1", "--log-level", "INFO", "--quiet"}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"any mode with SNI", []string{"--ports", strconv.Itoa(anyPort), "--server-name", "a.example"}, 0, "session", "transient client certificate"},
		{"the default certificate does not name a.example", []string{"--ports", strconv.Itoa(anyPort), "--server-name", "b.example"}, 1, "", "b.example"},
		{"verify mode refuses a transient certificate", []string{"--ports", strconv.Itoa(verifyPort), "--other-timeout", "5"}, 1, "", "tls: bad certificate (the server refused our client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(append(append([]string(nil), base...), tc.args...), &out, &errb)
			require.Equal(t, tc.code, code, "stdout: %s\nstderr: %s", out.String(), errb.String())
			assert.Contains(t, out.String(), tc.stdout)
			assert.Contains(t, errb.String(), tc.stderr)
			assert.Regexp(t, regexp.MustCompile(`fingerprint=[0-9a-f]{64}`), errb.String(), "the identity is logged")
		})
	}
}
