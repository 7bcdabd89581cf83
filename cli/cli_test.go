package cli

import (
	"bytes"
	"errors"
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("tlslpd thing", flag.ContinueOnError)
	fs.Int("port", 1, "port")
	fs.Int("other-timeout", 10, "seconds")
	fs.Bool("insecure", false, "no client certificates")
	return fs
}

func TestParse(t *testing.T) {
	tests := []struct {
		args []string
		want string // "" = no error
	}{
		{[]string{"--port", "3"}, ""},
		{[]string{"--bogus"}, "flag provided but not defined: --bogus"},
		{[]string{"-bogus"}, "flag provided but not defined: --bogus"},
		{[]string{"--port", "x"}, `invalid value "x" for flag --port: parse error`},
		{[]string{"--other-timeout=-3"}, ""}, // a negative number is a value, not a flag
		{[]string{"--port"}, "flag needs an argument: --port"},
		{[]string{"--insecure=maybe"}, "--insecure"},
		{[]string{"--port", "3", "stray"}, `unexpected argument "stray"`},
	}
	for _, tc := range tests {
		err := Parse(newFS(), tc.args)
		if tc.want == "" {
			require.NoError(t, err, tc.args)
			continue
		}
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "\n")
		assert.NotContains(t, err.Error(), "---")
	}
	require.ErrorIs(t, Parse(newFS(), []string{"--help"}), flag.ErrHelp)
}

func TestExit(t *testing.T) {
	fs := newFS()
	var out, errOut bytes.Buffer
	assert.Equal(t, 0, Exit(fs, flag.ErrHelp, &out, &errOut))
	assert.Contains(t, out.String(), "usage: tlslpd thing [flags]")
	assert.Contains(t, out.String(), "-other-timeout")
	assert.Empty(t, errOut.String())

	out.Reset()
	assert.Equal(t, 2, Exit(fs, errors.Join(errors.New("first"), errors.New("second")), &out, &errOut))
	assert.Equal(t, "tlslpd thing: first; second\n", errOut.String())
	assert.Empty(t, out.String())
}
