package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tlslpd.yaml")
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	return path
}

func TestConfigFileSetsEveryKindOfFlag(t *testing.T) {
	path := writeFile(t, `
host: 127.0.0.3
port: 3115
n_bits: 20
work-timeout: 120
other_timeout: 7          # '_' and '-' are interchangeable
insecure: true
drain-timeout: 5s
listen:
  - 127.0.0.1:3115
  - 127.0.0.1:7883
records: /tmp/records.jsonl
`)
	cfg, err := Parse("tlslpd", []string{"--config", path}, nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.3", cfg.Host)
	assert.Equal(t, 3115, cfg.Port)
	assert.Equal(t, 20, cfg.Session.NBits)
	assert.Equal(t, 120*time.Second, cfg.WorkTimeout)
	assert.Equal(t, 7*time.Second, cfg.OtherTimeout)
	assert.True(t, cfg.Insecure)
	assert.Equal(t, 5*time.Second, cfg.DrainTimeout)
	assert.Equal(t, []string{"127.0.0.1:3115", "127.0.0.1:7883"}, cfg.Listen)
	assert.Equal(t, []string{"tcp://127.0.0.1:3115", "tcp://127.0.0.1:7883"}, cfg.ListenAddrs())
	assert.Equal(t, "/tmp/records.jsonl", cfg.Records)
}

func TestFlagsOverrideConfigFile(t *testing.T) {
	path := writeFile(t, "port: 3115\nn_bits: 20\nlisten: [127.0.0.1:1]\n")
	// Flags before and after --config both win over the file.
	cfg, err := Parse("tlslpd", []string{"--n_bits", "5", "--config", path, "--listen", "127.0.0.1:2"}, nil)
	require.NoError(t, err)
	assert.Equal(t, 5, cfg.Session.NBits, "flag wins")
	assert.Equal(t, 3115, cfg.Port, "file fills what flags left")
	assert.Equal(t, []string{"127.0.0.1:2"}, cfg.Listen, "a repeatable flag on the command line replaces the file's list")
}

func TestConfigFileErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"unknown key", "port: 1\nbogus: 3\n", `line 2: unknown key "bogus"`},
		{"bad int", "port: abc\n", `key "port": invalid value "abc"`},
		{"bad seconds", "work-timeout: 0\n", `key "work-timeout": invalid value "0"`},
		{"bad bool", "insecure: perhaps\n", `key "insecure": invalid value "perhaps": want true or false`},
		{"bad duration", "drain-timeout: soon\n", `key "drain-timeout"`},
		{"duration without a unit", "drain-timeout: 30\n", `key "drain-timeout": invalid value "30": want a duration with a unit, e.g. 10s`},
		{"list for a single-valued key", "n_bits: [1, 2]\n", `line 1: key "n_bits" takes one value, not a list`},
		{"list for a bool", "insecure: [true]\n", `key "insecure" takes one value, not a list`},
		{"nested value", "port:\n  a: 1\n", `key "port": want a value or a list`},
		{"null value", "port:\n", `key "port": no value`},
		{"duplicate", "port: 1\nport: 2\n", `key "port" given twice`},
		{"config inside config", "config: other.yaml\n", `cannot be used inside a config file`},
		{"not a mapping", "- a\n- b\n", "want a mapping"},
		{"invalid yaml", "port: [1\n", "config file"},
		{"value checked after merge", "n_bits: 99\n", "--n_bits 99 is outside 0..64"},
		{"insecure on a public host", "insecure: true\nhost: 0.0.0.0\n", "--insecure refuses"},
		{"insecure with a public listen", "insecure: true\nlisten: [0.0.0.0:1234]\n", "--insecure refuses to serve on non-loopback address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.body)
			_, err := Parse("tlslpd", []string{"--config", path}, nil)
			require.ErrorIs(t, err, ErrUsage)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestConfigFileMissingOrEmpty(t *testing.T) {
	_, err := Parse("tlslpd", []string{"--config", filepath.Join(t.TempDir(), "nope.yaml")}, nil)
	require.ErrorIs(t, err, ErrConfigFile)
	assert.True(t, strings.HasSuffix(err.Error(), "no such file or directory"), err.Error())

	cfg, err := Parse("tlslpd", []string{"--config", writeFile(t, "# nothing here\n")}, nil)
	require.NoError(t, err)
	assert.Equal(t, Defaults().Port, cfg.Port)
}

func TestListenValidation(t *testing.T) {
	for _, bad := range []string{"nohostport", "127.0.0.1:99999", "127.0.0.1:x"} {
		_, err := Parse("tlslpd", []string{"--listen", bad}, nil)
		require.ErrorIs(t, err, ErrUsage, bad)
		assert.Contains(t, err.Error(), "--listen")
	}
	cfg, err := Parse("tlslpd", []string{"--listen", "localhost:3115", "--listen", "[::1]:7883"}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"tcp://127.0.0.1:3115", "tcp://[::1]:7883"}, cfg.ListenAddrs())

	// Two listeners on one address would both bind (SO_REUSEPORT) and
	// split connections at random: refused, whatever their transports.
	for _, pair := range [][2]string{
		{"127.0.0.1:3115", "127.0.0.1:3115"},
		{"tcp://127.0.0.1:3115", "tls://127.0.0.1:3115"},
		{"localhost:3115", "127.0.0.1:03115"},
		{"[::1]:3115", "ws://[0:0:0:0:0:0:0:1]:3115/x"},
	} {
		_, err := Parse("tlslpd", []string{"--listen", pair[0], "--listen", pair[1]}, nil)
		require.ErrorIs(t, err, ErrUsage, pair)
		assert.Contains(t, err.Error(), "are the same address", pair)
	}
	for _, pair := range [][2]string{
		{"127.0.0.1:0", "tcp://127.0.0.1:0"}, // each gets its own port
		{"127.0.0.1:3115", "127.0.0.2:3115"},
		{"127.0.0.1:3115", "127.0.0.1:3116"},
	} {
		_, err := Parse("tlslpd", []string{"--listen", pair[0], "--listen", pair[1]}, nil)
		require.NoError(t, err, pair)
	}
}

func TestSampleConfigParses(t *testing.T) {
	cfg, err := Parse("tlslpd", []string{"--config", "../deploy/tlslpd.yaml"}, nil)
	require.NoError(t, err)
	assert.Len(t, cfg.ListenAddrs(), 2)
	assert.Equal(t, "/var/log/tlslpd/sessions.jsonl", cfg.Records)
	assert.Equal(t, 10.0, cfg.FailedHandshakesPerIP)

	cfg, err = Parse("tlslpd", []string{"--config", writeFile(t, "failed-handshakes-per-ip: 2.5\n")}, nil)
	require.NoError(t, err)
	assert.Equal(t, 2.5, cfg.FailedHandshakesPerIP)
}

// FuzzConfigFile feeds arbitrary YAML: parsing never panics, and every
// failure is a one-line usage error.
func FuzzConfigFile(f *testing.F) {
	f.Add("port: 3115\nn_bits: 20\n")
	f.Add("listen: [127.0.0.1:1, 127.0.0.1:2]\ninsecure: true\n")
	f.Add("bogus: 1\n")
	f.Add("- a\n")
	f.Add("port: {a: 1}\n")
	f.Fuzz(func(t *testing.T, body string) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		_, err := Parse("tlslpd", []string{"--config", path}, nil)
		if err != nil {
			require.ErrorIs(t, err, ErrUsage)
			require.NotContains(t, err.Error(), "\n")
		}
	})
}
