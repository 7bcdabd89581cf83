package adversary

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttackCommand(t *testing.T) {
	s := startServer(t)
	host, port, _ := strings.Cut(s.addr, ":")
	certs := filepath.Join(s.Cmd.Dir, "certificates")
	base := []string{"--host", host, "--port", port, "--duration", "1500ms",
		"--ca-cert", filepath.Join(certs, "ca_cert.pem"), "--client-cert", filepath.Join(certs, "client_cert.pem"),
		"--private-key", filepath.Join(certs, "ec_private_key.pem")}
	// number is the largest value printed after label: the per-second
	// lines show the attack held; the summary comes as it is let go.
	number := func(out, label string) int {
		m := regexp.MustCompile(label+` (\d+)`).FindAllStringSubmatch(out, -1)
		require.NotEmpty(t, m, "%q in %s", label, out)
		best := 0
		for _, g := range m {
			n, err := strconv.Atoi(g[1])
			require.NoError(t, err)
			best = max(best, n)
		}
		return best
	}
	tests := []struct {
		kind  string
		check func(out string)
	}{
		{"stall", func(out string) { assert.Equal(t, 20, number(out, "holding"), out) }},
		{"partial", func(out string) { assert.Equal(t, 20, number(out, "holding"), out) }},
		{"keyupdate", func(out string) { assert.Positive(t, number(out, "closed by the server"), out) }},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(append([]string{"--kind", tc.kind, "--conns", "20", "--sources", "4"}, base...), &stdout, &stderr)
			require.Equal(t, 0, code, stderr.String())
			assert.Contains(t, stdout.String(), "attack "+tc.kind+" on "+s.addr)
			tc.check(stdout.String())
		})
	}
	t.Run("only loopback", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		args := append(append([]string{}, base...), "--host", "192.0.2.1")
		assert.Equal(t, 2, Main(args, &stdout, &stderr))
		assert.Contains(t, stderr.String(), "only loopback")
		assert.Equal(t, 1, strings.Count(stderr.String(), "\n"))
	})
}

// --help explains every attack kind on its own line, after the flags.
func TestAttackHelpExplainsEveryKind(t *testing.T) {
	var out, errb bytes.Buffer
	require.Equal(t, 0, Main([]string{"--help"}, &out, &errb), errb.String())
	help := out.String()
	_, kinds, found := strings.Cut(help, "attack kinds (--kind):\n")
	require.True(t, found, "a kinds section in:\n%s", help)
	for _, k := range attackKinds {
		assert.Regexp(t, `(?m)^  `+regexp.QuoteMeta(k)+` +\S`, kinds, "kind %q explained", k)
		assert.NotEmpty(t, attackHelp[k], "kind %q has a text", k)
	}
	assert.Len(t, attackHelp, len(attackKinds), "every explained kind exists")
}
