package compat

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Integers are read as Python's int() reads them, and unambiguous
// prefixes of long flags stand for them, as argparse allows.
func TestFlagValueFormsOnTheWire(t *testing.T) {
	h := newHome(t)
	tests := []struct {
		args     []string
		bits     int
		token    string
		random   string
		tutorial bool
	}{
		{args: []string{"--n_bits", "010"}, bits: 10, token: refToken},
		{args: []string{"--n_b", "6"}, bits: 6, token: refToken},
		{args: []string{"--n_bits=+07", "--tok", "AUTH"}, bits: 7, token: "AUTH"},
		{args: []string{"--n_bits", "4", "--rand", "xyz", "--tut"}, bits: 4, token: refToken, random: "xyz", tutorial: true},
		{args: []string{"--n_bits", "4", "--work-t", "0060", "--other-t=010", "--insec"}, bits: 4, token: refToken},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			s := h.startServer(t, tc.args...)
			c := s.dial(t)
			token, bits := c.work()
			assert.Equal(t, tc.token, token)
			assert.Equal(t, tc.bits, bits)
			if tc.random == "" {
				return
			}
			c.solve(token, bits)
			c.expect("FULL_NAME " + tc.random + "\n")
			c.send(checksum(token, tc.random) + " v\n")
			if tc.tutorial {
				c.expect("EMAIL1 " + tc.random + "\n")
			}
		})
	}
}

// What the reference refuses, we refuse: one line on stderr, exit 2.
func TestFlagErrors(t *testing.T) {
	h := newHome(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--port", "0x900"}, `invalid value "0x900" for flag --port: want a decimal integer`},
		{[]string{"--n_bits", "0o10"}, "--n_bits"},
		{[]string{"--work-timeout", "0"}, "--work-timeout"},
		{[]string{"--other-timeout", "1.5"}, "--other-timeout"},
		{[]string{"--server", "x.pem"}, "ambiguous option: --server could match --server-cert, --server-key"},
		{[]string{"--log-level", "TRACE"}, "--log-level"},
		{[]string{"--insecure", "--host", "0.0.0.0"}, "--insecure refuses to serve on non-loopback host"},
		{[]string{"--nope"}, "flag provided but not defined: --nope"},
		{[]string{"client", "--ports", "0x4d2"}, "--ports"},
		// Ambiguous as with the reference; tlslpd's own --plain is a candidate too.
		{[]string{"client", "--p", "1"}, "ambiguous option: --p could match --plain, --ports, --private-key"},
		{[]string{"client", "--insecure", "--host", "example.com"}, "refused for non-loopback host"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := h.run(t, tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

// The client's flags: --port is --ports, numbers are decimal.
func TestClientFlagForms(t *testing.T) {
	h := newHome(t)
	s := h.startServer(t, "--n_bits", "4", "--tutorial")
	code, stdout, stderr := h.run(t, "client", "--host", "127.0.0.1", "--port", "0"+itoa(s.port), "--work-t", "010", "--quiet")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "session completed: port "+itoa(s.port))
}
