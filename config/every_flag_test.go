package config

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every flag is also a config file key (the README says so), with the
// same effect: a flag added without a sample here fails this test.
func TestEveryFlagIsAConfigKey(t *testing.T) {
	samples := map[string]string{
		"host": "127.0.0.2", "port": "4321", "server-cert": "a.pem", "server-key": "a-key.pem", "ca-cert": "ca.pem",
		"work-timeout": "60", "other-timeout": "5", "insecure": "true", "token": "ABC", "reference-log": "true",
		"fresh-tokens": "true", "random-string": "XYZ", "n_bits": "12", "log-level": "DEBUG", "tutorial": "true",
		"metrics-addr": "127.0.0.1:9100", "cert-watch-interval": "5s", "metrics-pprof": "true", "max-conns": "100",
		"handshake-timeout": "3s", "max-handshakes": "4", "max-suspended-handshakes": "64",
		"max-suspended-handshakes-per-ip": "8", "log-format": "json", "loops": "2", "listen": "tcp://127.0.0.1:1",
		"allow-plain": "true", "auto-wait": "1s", "reuseport": "true", "drain-timeout": "5s", "shed-delay": "-1s",
		"max-conns-per-ip": "10", "failed-handshakes-per-ip": "2.5", "max-buffered-bytes": "4096", "records": "r.jsonl",
		"records-max-bytes": "1000000", "records-backups": "2", "status-interval": "10s", "gc-percent": "150",
		"client-auth": "any", "sni": "a.example=a.pem,a-key.pem", "allow-identities": "allow.txt",
		"deny-identities": "deny.txt", "max-conns-per-identity": "3", "proxy-protocol-from": "10.0.0.0/8",
	}
	notKeys := map[string]bool{"config": true, "version": true} // command line only
	defaults := Defaults()
	FlagSet("tlslpd", &defaults).VisitAll(func(f *flag.Flag) {
		if notKeys[f.Name] {
			return
		}
		t.Run(f.Name, func(t *testing.T) {
			value, ok := samples[f.Name]
			require.True(t, ok, "no sample value for --%s: add one", f.Name)
			require.NotEqual(t, f.DefValue, value, "the sample must differ from the default")
			byFlag, err := Parse("tlslpd", []string{"--" + f.Name + "=" + value}, nil)
			require.NoError(t, err)
			byFile, err := Parse("tlslpd", []string{"--config", writeFile(t, f.Name+": "+value+"\n")}, nil)
			require.NoError(t, err)
			byFile.ConfigFile = ""
			assert.Equal(t, byFlag, byFile)
			assert.NotEqual(t, Defaults(), byFile, "the key changed nothing")
		})
	})
}
