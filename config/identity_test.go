package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/tlsbridge"
)

func TestClientAuthFlag(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		want     tlsbridge.ClientAuth
		insecure bool
	}{
		{nil, tlsbridge.ClientAuthVerify, false},
		{[]string{"--client-auth", "any"}, tlsbridge.ClientAuthAny, false},
		{[]string{"--client-auth=optional"}, tlsbridge.ClientAuthOptional, false},
		{[]string{"--client-auth", "VERIFY"}, tlsbridge.ClientAuthVerify, false},
		{[]string{"--client-auth", "none"}, tlsbridge.ClientAuthNone, true},
		{[]string{"--insecure"}, tlsbridge.ClientAuthNone, true},
		{[]string{"--insecure", "--client-auth", "none"}, tlsbridge.ClientAuthNone, true},
	} {
		cfg, err := Parse("tlslpd", tc.args, nil)
		require.NoError(t, err, "%v", tc.args)
		assert.Equal(t, tc.want, cfg.ClientAuth, "%v", tc.args)
		assert.Equal(t, tc.insecure, cfg.Insecure, "%v: --insecure and none are one mode", tc.args)
	}
}

func TestIdentityFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--client-auth", "maybe"}, "want verify, any, optional or none"},
		{[]string{"--insecure", "--client-auth", "any"}, "--insecure and --client-auth any exclude each other"},
		{[]string{"--client-auth", "none", "--host", "0.0.0.0"}, "non-loopback"},
		{[]string{"--insecure", "--deny-identities", "d.txt"}, "--deny-identities needs client certificates"},
		{[]string{"--client-auth", "none", "--allow-identities", "a.txt"}, "--allow-identities needs client certificates"},
		{[]string{"--client-auth", "none", "--max-conns-per-identity", "2"}, "--max-conns-per-identity needs client certificates"},
		{[]string{"--max-conns-per-identity", "-1"}, "must not be negative"},
		{[]string{"--sni", "a.example"}, "want NAME=CERT,KEY"},
		{[]string{"--sni", "a.example=a.pem,a.key", "--sni", "A.example=b.pem,b.key"}, "given twice"},
	} {
		_, err := Parse("tlslpd", tc.args, nil)
		require.Error(t, err, "%v", tc.args)
		assert.ErrorIs(t, err, ErrUsage)
		assert.Contains(t, err.Error(), tc.want, "%v", tc.args)
		assert.NotContains(t, err.Error(), "\n")
	}
}

func TestIdentityFlagsFromFlagsAndFile(t *testing.T) {
	want := []tlsbridge.SNIFiles{{Name: "a.example", Cert: "a.pem", Key: "a.key"}, {Name: "*.b.example", Cert: "b.pem", Key: "b.key"}}
	cfg, err := Parse("tlslpd", []string{"--client-auth", "any", "--sni", "a.example=a.pem,a.key", "--sni", "*.B.example=b.pem,b.key",
		"--allow-identities", "allow.txt", "--deny-identities", "deny.txt", "--max-conns-per-identity", "3"}, nil)
	require.NoError(t, err)
	assert.Equal(t, tlsbridge.ClientAuthAny, cfg.ClientAuth)
	assert.Equal(t, want, cfg.SNI)
	assert.Equal(t, "allow.txt", cfg.AllowIdentities)
	assert.Equal(t, "deny.txt", cfg.DenyIdentities)
	assert.Equal(t, 3, cfg.MaxConnsPerIdentity)

	path := writeFile(t, `
client-auth: any
sni:
  - a.example=a.pem,a.key
  - "*.b.example=b.pem,b.key"
allow-identities: allow.txt
deny_identities: deny.txt
max-conns-per-identity: 3
`)
	fromFile, err := Parse("tlslpd", []string{"--config", path}, nil)
	require.NoError(t, err)
	assert.Equal(t, cfg.ClientAuth, fromFile.ClientAuth)
	assert.Equal(t, want, fromFile.SNI)
	assert.Equal(t, cfg.AllowIdentities, fromFile.AllowIdentities)
	assert.Equal(t, cfg.DenyIdentities, fromFile.DenyIdentities)
	assert.Equal(t, cfg.MaxConnsPerIdentity, fromFile.MaxConnsPerIdentity)

	insecureFile := writeFile(t, "insecure: true\n")
	_, err = Parse("tlslpd", []string{"--config", insecureFile, "--client-auth", "any"}, nil)
	assert.ErrorContains(t, err, "exclude each other")
}
