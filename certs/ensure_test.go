package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCAKeyWrittenAndTenYears(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certificates")
	var out, errOut bytes.Buffer
	require.Equal(t, 0, Main([]string{"--dir", dir}, &out, &errOut), errOut.String())
	files := FilesIn(dir)
	info, err := os.Stat(files.CAKey)
	require.NoError(t, err, "ca_key.pem is written")
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	ca, err := LoadCA(files.CACert, files.CAKey)
	require.NoError(t, err)
	life := ca.Cert.NotAfter.Sub(time.Now())
	assert.Greater(t, life, 9*365*24*time.Hour, "the CA lasts ten years, like the reference's")
}

func TestRerunSkipsExistingFilesAndExitsZero(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certificates")
	var out, errOut bytes.Buffer
	require.Equal(t, 0, Main([]string{"--dir", dir}, &out, &errOut))
	files := FilesIn(dir)
	before, err := os.ReadFile(files.ServerCert)
	require.NoError(t, err)

	out.Reset()
	require.Equal(t, 0, Main([]string{"--dir", dir}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), files.ServerCert+" exists, skipping")
	after, err := os.ReadFile(files.ServerCert)
	require.NoError(t, err)
	assert.Equal(t, before, after)

	// A missing pair is signed again by the CA that is there.
	require.NoError(t, os.Remove(files.ClientKey))
	out.Reset()
	require.Equal(t, 0, Main([]string{"--dir", dir}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "wrote "+files.ClientKey)
	verifyLeaf(t, files.CACert, files.ClientCert, x509.ExtKeyUsageClientAuth)
	after, err = os.ReadFile(files.ServerCert)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the server pair was complete and stays")

	// Without the CA key nothing can be signed: a clear error, exit 1.
	require.NoError(t, os.Remove(files.CAKey))
	require.NoError(t, os.Remove(files.ServerCert))
	errOut.Reset()
	assert.Equal(t, 1, Main([]string{"--dir", dir}, &out, &errOut))
	assert.Contains(t, errOut.String(), "ca_key.pem")

	// --force starts over.
	errOut.Reset()
	require.Equal(t, 0, Main([]string{"--dir", dir, "--force"}, &out, &errOut), errOut.String())
	verifyLeaf(t, files.CACert, files.ServerCert, x509.ExtKeyUsageServerAuth)
}

func TestSignAnotherClient(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certificates")
	var out, errOut bytes.Buffer
	require.Equal(t, 0, Main([]string{"--dir", dir}, &out, &errOut))
	out.Reset()
	require.Equal(t, 0, Main([]string{"client", "--dir", dir, "--name", "alice"}, &out, &errOut), errOut.String())
	cert := filepath.Join(dir, "alice_cert.pem")
	key := filepath.Join(dir, "alice_private_key.pem")
	assert.Contains(t, out.String(), cert)
	leaf := verifyLeaf(t, FilesIn(dir).CACert, cert, x509.ExtKeyUsageClientAuth)
	assert.Equal(t, "alice", leaf.Subject.CommonName)
	info, err := os.Stat(key)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	errOut.Reset()
	assert.Equal(t, 1, Main([]string{"client", "--dir", dir, "--name", "alice"}, &out, &errOut), "existing files are not replaced")
	assert.Contains(t, errOut.String(), "--force")
	errOut.Reset()
	assert.Equal(t, 2, Main([]string{"client", "--dir", dir}, &out, &errOut))
	assert.Contains(t, errOut.String(), "--name is required")
	for _, bad := range []string{"../evil", "a/b", ".."} {
		errOut.Reset()
		assert.Equal(t, 2, Main([]string{"client", "--dir", dir, "--name", bad}, &out, &errOut), bad)
		assert.Equal(t, 1, strings.Count(errOut.String(), "\n"), "one line: %q", errOut.String())
		assert.Contains(t, errOut.String(), "want a plain name")
	}
	out.Reset()
	require.Equal(t, 0, Main([]string{"client", "--dir", dir, "--name", "Ada Lovelace's"}, &out, &errOut), errOut.String())
	assert.Contains(t, out.String(), "--client-cert '"+filepath.Join(dir, `Ada Lovelace'\''s_cert.pem`)+"'")
	errOut.Reset()
	assert.Equal(t, 1, Main([]string{"client", "--dir", t.TempDir(), "--name", "bob"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "tlslpd certs")
}

func TestLoadCARefusesAForeignKey(t *testing.T) {
	a, err := New(Options{})
	require.NoError(t, err)
	b, err := New(Options{})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.pem"), a.CA.CertPEM, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pem"), b.CA.KeyPEM, 0o600))
	_, err = LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "key.pem"))
	require.ErrorContains(t, err, "does not belong")
}

func verifyLeaf(t *testing.T, caPath, certPath string, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	caPEM, err := os.ReadFile(caPath)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	certPEM, err := os.ReadFile(certPath)
	require.NoError(t, err)
	chain, err := Pair{CertPEM: certPEM}.Chain()
	require.NoError(t, err)
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}})
	require.NoError(t, err)
	return chain[0]
}

// A CA made elsewhere (openssl writes PKCS#8 "PRIVATE KEY") signs clients
// as well as our own.
func TestLoadCAWithPKCS8Key(t *testing.T) {
	ca, pair, err := NewCA(Options{})
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	require.NoError(t, err)
	dir := t.TempDir()
	files := FilesIn(dir)
	require.NoError(t, os.WriteFile(files.CACert, pair.CertPEM, 0o644))
	require.NoError(t, os.WriteFile(files.CAKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	cert, _, err := IssueClientFiles(dir, "carol", false, Options{})
	require.NoError(t, err)
	verifyLeaf(t, files.CACert, cert, x509.ExtKeyUsageClientAuth)
}

func TestHostsFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // nil: refused
	}{
		{"localhost,127.0.0.1,::1", []string{"localhost", "127.0.0.1", "::1"}},
		{" a.example , *.b.example", []string{"a.example", "*.b.example"}},
		{"", nil}, {"a,,b", nil}, {"bad host!", nil}, {"-a.example", nil}, {"a..example", nil}, {"*.", nil},
	} {
		got, err := ParseHosts(tc.in)
		if tc.want == nil {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got)
	}
	var out, errOut bytes.Buffer
	dir := filepath.Join(t.TempDir(), "certificates")
	assert.Equal(t, 2, Main([]string{"--dir", dir, "--hosts", "a,,b"}, &out, &errOut))
	assert.Equal(t, "tlslpd certs: --hosts \"a,,b\": empty name (want comma-separated host names and IPs)\n", errOut.String())
	_, err := os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing written")
}
