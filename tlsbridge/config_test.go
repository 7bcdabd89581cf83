package tlsbridge

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	files, err := pki.Write(dir, false)
	require.NoError(t, err)
	other, err := certs.New(certs.Options{})
	require.NoError(t, err)

	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	cert, key, ca := files.ServerCert, files.ServerKey, files.CACert
	garbage := write("garbage.pem", []byte("not pem at all\n"))
	otherKey := write("other-key.pem", other.Server.KeyPEM)
	keyOnlyCA := write("ca-key-only.pem", pki.Server.KeyPEM)
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name                string
		cert, key, ca       string
		insecure            bool
		wantErr, wantInFile string
	}{
		{name: "ok", cert: cert, key: key, ca: ca},
		{name: "insecure ignores CA", cert: cert, key: key, ca: missing, insecure: true},
		{name: "missing cert", cert: missing, key: key, ca: ca, wantErr: "is missing", wantInFile: missing},
		{name: "missing key", cert: cert, key: missing, ca: ca, wantErr: "is missing", wantInFile: missing},
		{name: "missing CA", cert: cert, key: key, ca: missing, wantErr: "is missing", wantInFile: missing},
		{name: "cert not PEM", cert: garbage, key: key, ca: ca, wantErr: "is not PEM", wantInFile: garbage},
		{name: "key not PEM", cert: cert, key: garbage, ca: ca, wantErr: "is not PEM", wantInFile: garbage},
		{name: "CA not PEM", cert: cert, key: key, ca: garbage, wantErr: "is not PEM", wantInFile: garbage},
		{name: "key does not match", cert: cert, key: otherKey, ca: ca, wantErr: "does not match", wantInFile: otherKey},
		{name: "CA has no certificates", cert: cert, key: key, ca: keyOnlyCA, wantErr: "no CERTIFICATE", wantInFile: keyOnlyCA},
		{name: "cert file holds a key", cert: key, key: key, ca: ca, wantErr: "no CERTIFICATE", wantInFile: key},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := LoadConfig(tc.cert, tc.key, tc.ca, tc.insecure)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Contains(t, err.Error(), tc.wantInFile)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.insecure, cfg.Insecure)
			assert.Equal(t, tc.insecure, cfg.ClientCAs == nil)
			_, err = NewServer(cfg)
			assert.NoError(t, err, "a loaded config is accepted by NewServer")
		})
	}
}

func TestLoadModesAndSNI(t *testing.T) {
	dir := t.TempDir()
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	files, err := pki.Write(dir, false)
	require.NoError(t, err)
	aPair, err := pki.Authority().IssueServer(certs.Options{Hosts: []string{"a.example"}})
	require.NoError(t, err)
	aCert, aKey := filepath.Join(dir, "a.pem"), filepath.Join(dir, "a-key.pem")
	require.NoError(t, os.WriteFile(aCert, aPair.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(aKey, aPair.KeyPEM, 0o600))
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name    string
		f       Files
		wantCAs bool
		wantErr string
	}{
		{name: "verify reads the CA", f: Files{ClientAuth: ClientAuthVerify, CA: files.CACert}, wantCAs: true},
		{name: "optional reads the CA", f: Files{ClientAuth: ClientAuthOptional, CA: files.CACert}, wantCAs: true},
		{name: "any ignores the CA", f: Files{ClientAuth: ClientAuthAny, CA: missing}},
		{name: "none ignores the CA", f: Files{ClientAuth: ClientAuthNone, CA: missing}},
		{name: "optional needs the CA", f: Files{ClientAuth: ClientAuthOptional, CA: missing}, wantErr: "is missing"},
		{name: "SNI", f: Files{ClientAuth: ClientAuthAny, SNI: []SNIFiles{{Name: "a.example", Cert: aCert, Key: aKey}}}},
		{name: "SNI key missing", f: Files{ClientAuth: ClientAuthAny, SNI: []SNIFiles{{Name: "a.example", Cert: aCert, Key: missing}}}, wantErr: "SNI a.example key " + missing + " is missing"},
		{name: "SNI key mismatch", f: Files{ClientAuth: ClientAuthAny, SNI: []SNIFiles{{Name: "a.example", Cert: aCert, Key: files.ServerKey}}}, wantErr: "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.Cert, tc.f.Key = files.ServerCert, files.ServerKey
			cfg, err := Load(tc.f)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantCAs, cfg.ClientCAs != nil)
			assert.Equal(t, len(tc.f.SNI), len(cfg.SNI))
			_, err = NewServer(cfg)
			assert.NoError(t, err)
		})
	}
}
