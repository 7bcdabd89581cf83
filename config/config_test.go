package config

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/protocol"
)

func TestDefaultsMatchReference(t *testing.T) {
	cfg, err := Parse("tlslpd", nil, nil)
	require.NoError(t, err)
	assert.Equal(t, "localhost", cfg.Host)
	assert.Equal(t, 1234, cfg.Port)
	assert.Equal(t, "certificates/server-cert.pem", cfg.ServerCert)
	assert.Equal(t, "certificates/server-key.pem", cfg.ServerKey)
	assert.Equal(t, "certificates/ca_cert.pem", cfg.CACert)
	assert.Equal(t, 1800*time.Second, cfg.WorkTimeout)
	assert.Equal(t, 10*time.Second, cfg.OtherTimeout)
	assert.False(t, cfg.Insecure)
	assert.Equal(t, "LGTk", cfg.Session.RandomString)
	assert.Equal(t, 28, cfg.Session.NBits)
	assert.Equal(t, "INFO", cfg.LogLevel)
	assert.False(t, cfg.Session.Tutorial)
	assert.Equal(t, "gkcjcibIFynKssuJnJpSrgvawiVjLjEbdFuYQzuWROTeTaSmqFCAzuwkwLCRgIIq", cfg.Session.Token,
		"without --token every session gets the reference token, as the reference sends")
	assert.False(t, cfg.FreshTokens)
	assert.Equal(t, "tcp://127.0.0.1:1234", cfg.ListenAddr())
	assert.Equal(t, 10.0, cfg.FailedHandshakesPerIP, "on by default: it refuses only addresses whose handshakes fail")
}

func TestParseReferenceFlags(t *testing.T) {
	args := []string{
		"--host", "127.0.0.2", "--port=3115", "--server-cert", "s.pem", "--server-key", "k.pem",
		"--ca-cert", "ca.pem", "--work-timeout", "60", "--other-timeout=5", "--insecure",
		"--token", "AUTH", "--random-string", "xyz", "--n_bits", "12", "--log-level", "DEBUG", "--tutorial",
		"--max-conns", "100", "--handshake-timeout", "3s", "--log-format", "console", "--metrics-addr", "127.0.0.1:9100",
	}
	cfg, err := Parse("tlslpd", args, nil)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.2", cfg.Host)
	assert.Equal(t, 3115, cfg.Port)
	assert.Equal(t, "s.pem", cfg.ServerCert)
	assert.Equal(t, "k.pem", cfg.ServerKey)
	assert.Equal(t, "ca.pem", cfg.CACert)
	assert.Equal(t, time.Minute, cfg.WorkTimeout)
	assert.Equal(t, 5*time.Second, cfg.OtherTimeout)
	assert.True(t, cfg.Insecure)
	assert.Equal(t, "AUTH", cfg.Session.Token)
	assert.Equal(t, "xyz", cfg.Session.RandomString)
	assert.Equal(t, 12, cfg.Session.NBits)
	assert.True(t, cfg.Session.Tutorial)
	assert.Equal(t, 100, cfg.MaxConns)
	assert.Equal(t, 3*time.Second, cfg.HandshakeTimeout)
	assert.Equal(t, "console", cfg.LogFormat)
	assert.Equal(t, "127.0.0.1:9100", cfg.MetricsAddr)
}

func TestParseErrorsAreOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--port", "abc"}, "--port"},
		{[]string{"--port", "70000"}, "--port 70000 is outside"},
		{[]string{"--work-timeout", "0"}, "positive whole number of seconds"},
		{[]string{"--other-timeout", "-3"}, "positive whole number of seconds"},
		{[]string{"--work-timeout", "1.5"}, "positive whole number of seconds"},
		{[]string{"--n_bits", "65"}, "--n_bits 65 is outside 0..64"},
		{[]string{"--n_bits", "-1"}, "--n_bits -1"},
		{[]string{"--log-level", "TRACE"}, "--log-level \"TRACE\""},
		{[]string{"--log-format", "xml"}, "--log-format \"xml\""},
		{[]string{"--insecure", "--host", "0.0.0.0"}, "--insecure refuses to serve on non-loopback host \"0.0.0.0\""},
		{[]string{"--insecure", "--host", "example.com"}, "non-loopback host"},
		{[]string{"--insecure", "--host", "10.1.2.3"}, "non-loopback host"},
		{[]string{"--nope"}, "flag provided but not defined: --nope"},
		{[]string{"--max-conns", "0"}, "--max-conns must be positive"},
		{[]string{"--handshake-timeout", "0s"}, "--handshake-timeout must be positive"},
		{[]string{"--max-suspended-handshakes", "-1"}, "--max-suspended-handshakes and --max-suspended-handshakes-per-ip must not be negative"},
		{[]string{"--max-suspended-handshakes-per-ip", "-1"}, "must not be negative"},
		{[]string{"--failed-handshakes-per-ip", "-1"}, "--failed-handshakes-per-ip must be a finite rate, not negative"},
		{[]string{"--failed-handshakes-per-ip", "NaN"}, "--failed-handshakes-per-ip must be a finite rate"},
		{[]string{"--failed-handshakes-per-ip", "+Inf"}, "--failed-handshakes-per-ip must be a finite rate"},
		{[]string{"--proxy-protocol-from", "10.1.2.3/8"}, "host bits are set; did you mean 10.0.0.0/8?"},
		{[]string{"--proxy-protocol-from", "lb.example"}, "want a CIDR or an IP address"},
		{[]string{"--metrics-addr", "nonsense"}, "--metrics-addr"},
		{[]string{"--metrics-addr", "127.0.0.1:99999"}, `--metrics-addr "127.0.0.1:99999": port "99999": want 0..65535`},
		{[]string{"--metrics-addr", "127.0.0.1:-1"}, "want 0..65535"},
		{[]string{"--status-interval", "1ns"}, "--status-interval 1ns: want 0 (off) or at least 100ms"},
		{[]string{"--cert-watch-interval", "1us"}, "--cert-watch-interval 1µs: want 0 (SIGHUP only) or at least 10ms"},
		{[]string{"--work-timeout", "9300000000"}, `invalid value "9300000000" for flag --work-timeout: want at most 9223372036 seconds`},
		{[]string{"--other-timeout", "99999999999999"}, "want at most 9223372036 seconds"},
		{[]string{"--random-string", "a b"}, "--random-string must not contain spaces"},
		{[]string{"extra"}, "unexpected argument \"extra\""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := Parse("tlslpd", tc.args, nil)
			require.ErrorIs(t, err, ErrUsage)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestInsecureOnLoopbackIsFine(t *testing.T) {
	for _, host := range []string{"localhost", "LOCALHOST", "127.0.0.1", "127.9.8.7", "::1", "[::1]"} {
		_, err := Parse("tlslpd", []string{"--insecure", "--host", host}, nil)
		require.NoError(t, err, host)
	}
}

func TestListenAddr(t *testing.T) {
	tests := map[string]string{
		"localhost": "tcp://127.0.0.1:1234",
		"127.0.0.5": "tcp://127.0.0.5:1234",
		"::1":       "tcp://[::1]:1234",
		"[::1]":     "tcp://[::1]:1234",
	}
	for host, want := range tests {
		cfg := Defaults()
		cfg.Host = host
		assert.Equal(t, want, cfg.ListenAddr(), host)
	}
}

// Only a listener that can speak TLS needs the server's certificate.
func TestServesTLS(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, true}, // --host/--port serve TLS
		{[]string{"--listen", "127.0.0.1:1"}, true},
		{[]string{"--listen", "tcp://127.0.0.1:1"}, false},
		{[]string{"--listen", "ws://127.0.0.1:1/x"}, false},
		{[]string{"--listen", "tcp://127.0.0.1:1", "--listen", "ws://127.0.0.1:2"}, false},
		{[]string{"--listen", "tcp://127.0.0.1:1", "--listen", "auto://127.0.0.1:2"}, true},
		{[]string{"--listen", "tcp://127.0.0.1:1", "--listen", "wss://127.0.0.1:2"}, true},
		{[]string{"--listen", "tcp://127.0.0.1:1", "--listen", "tls://127.0.0.1:2"}, true},
	}
	for _, tc := range tests {
		cfg, err := Parse("tlslpd", tc.args, nil)
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.want, cfg.ServesTLS(), tc.args)
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := Parse("tlslpd", []string{"--help"}, &out)
	require.ErrorIs(t, err, ErrHelp)
	for _, flag := range []string{"-host", "-port", "-n_bits", "-work-timeout", "-tutorial", "-metrics-addr"} {
		assert.Contains(t, out.String(), flag)
	}
}

func TestParseLevel(t *testing.T) {
	tests := map[string]zerolog.Level{
		"DEBUG": zerolog.DebugLevel, "INFO": zerolog.InfoLevel, "WARNING": zerolog.WarnLevel,
		"ERROR": zerolog.ErrorLevel, "CRITICAL": zerolog.FatalLevel, "info": zerolog.InfoLevel,
	}
	for in, want := range tests {
		got, err := ParseLevel(in)
		require.NoError(t, err)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseLevel("")
	require.ErrorIs(t, err, ErrUsage)
	assert.Equal(t, protocol.DefaultLogLevel, Defaults().LogLevel)
}

func TestGCPercent(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     string
		want    int
		applies bool
	}{
		{"default applies without GOGC", nil, "", 200, true},
		{"GOGC in the environment wins over the default", nil, "100", 0, false},
		{"the flag wins over GOGC", []string{"--gc-percent", "300"}, "100", 300, true},
		{"the flag alone", []string{"--gc-percent", "150"}, "", 150, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("tlslpd", tc.args, nil)
			require.NoError(t, err)
			got, ok := cfg.GCPercentToApply(tc.env)
			assert.Equal(t, tc.applies, ok)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := Parse("tlslpd", []string{"--gc-percent", "5"}, nil)
	require.ErrorIs(t, err, ErrUsage)
}

func TestFreshTokensIsExplicit(t *testing.T) {
	cfg, err := Parse("tlslpd", []string{"--fresh-tokens"}, nil)
	require.NoError(t, err)
	assert.True(t, cfg.FreshTokens)
	assert.Empty(t, cfg.Session.Token, "the state machine draws a token per session")

	_, err = Parse("tlslpd", []string{"--fresh-tokens", "--token", "AUTH"}, nil)
	require.ErrorIs(t, err, ErrUsage)
	assert.Contains(t, err.Error(), "--fresh-tokens and --token exclude each other")
	_, err = Parse("tlslpd", []string{"--fresh-tokens", "--tutorial"}, nil)
	require.ErrorIs(t, err, ErrUsage)

	var help bytes.Buffer
	_, err = Parse("tlslpd", []string{"--help"}, &help)
	require.ErrorIs(t, err, ErrHelp)
	assert.Contains(t, help.String(), "37%", "the caveat is documented where the flag is")
}

// Every integer the reference reads with Python's int() is decimal here:
// no octal, no hex, leading zeros ignored — on the command line and in the
// config file alike.
func TestIntegersAreDecimal(t *testing.T) {
	tests := []struct {
		args []string
		get  func(Server) int
		want int // -1: refused
	}{
		{[]string{"--port", "01234"}, func(c Server) int { return c.Port }, 1234},
		{[]string{"--port", "0x900"}, nil, -1},
		{[]string{"--port", "0o17"}, nil, -1},
		{[]string{"--n_bits", "010"}, func(c Server) int { return c.Session.NBits }, 10},
		{[]string{"--work-timeout", "0060"}, func(c Server) int { return int(c.WorkTimeout.Seconds()) }, 60},
		{[]string{"--other-timeout", "0x5"}, nil, -1},
		{[]string{"--max-conns", "010"}, func(c Server) int { return c.MaxConns }, 10},
		{[]string{"--records-max-bytes", "0100"}, func(c Server) int { return int(c.RecordsMaxBytes) }, 100},
		{[]string{"--gc-percent", "0x64"}, nil, -1},
	}
	for _, tc := range tests {
		cfg, err := Parse("tlslpd", tc.args, nil)
		if tc.want < 0 {
			require.ErrorIs(t, err, ErrUsage, tc.args)
			assert.Contains(t, err.Error(), "decimal", tc.args)
			continue
		}
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.want, tc.get(cfg), tc.args)
	}
	path := writeFile(t, "port: 01234\nn_bits: 010\n")
	cfg, err := Parse("tlslpd", []string{"--config", path}, nil)
	require.NoError(t, err)
	assert.Equal(t, 1234, cfg.Port)
	assert.Equal(t, 10, cfg.Session.NBits)
	_, err = Parse("tlslpd", []string{"--config", writeFile(t, "port: 0x900\n")}, nil)
	require.ErrorIs(t, err, ErrConfigFile)
}

func TestFlagPrefixes(t *testing.T) {
	cfg, err := Parse("tlslpd", []string{"--tut", "--insec", "--n_b", "8", "--rand", "xyz", "--work-t=60"}, nil)
	require.NoError(t, err)
	assert.True(t, cfg.Session.Tutorial)
	assert.True(t, cfg.Insecure)
	assert.Equal(t, 8, cfg.Session.NBits)
	assert.Equal(t, "xyz", cfg.Session.RandomString)
	assert.Equal(t, time.Minute, cfg.WorkTimeout)

	_, err = Parse("tlslpd", []string{"--server", "x.pem"}, nil)
	require.ErrorIs(t, err, ErrUsage)
	assert.Contains(t, err.Error(), "ambiguous option: --server could match --server-cert, --server-key")
	assert.NotContains(t, err.Error(), "\n")
}

func TestReferenceLogDefaultsOnInTutorial(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--tutorial"}, true},
		{[]string{"--tutorial", "--reference-log=false"}, false},
		{[]string{"--reference-log"}, true},
	} {
		cfg, err := Parse("tlslpd", tc.args, nil)
		require.NoError(t, err)
		assert.Equal(t, tc.want, cfg.ReferenceLog, tc.args)
	}
}

func TestListenPortsAreDecimal(t *testing.T) {
	cfg, err := Parse("tlslpd", []string{"--listen", "127.0.0.1:01234"}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"tcp://127.0.0.1:1234"}, cfg.ListenAddrs())
	_, err = Parse("tlslpd", []string{"--listen", "127.0.0.1:0x10"}, nil)
	require.ErrorIs(t, err, ErrUsage)
}
