package cli

import (
	"bytes"
	"errors"
	"flag"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newFS() *flag.FlagSet {
	fs := flag.NewFlagSet("tlslpd thing", flag.ContinueOnError)
	fs.Int("port", 1, "port")
	fs.Int("other-timeout", 10, "seconds")
	fs.Bool("insecure", false, "no client certificates")
	fs.Duration("drain-timeout", time.Second, "drain")
	fs.Float64("rate", 1, "per second")
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
		{[]string{"--port", "x"}, `invalid value "x" for flag --port: want a decimal integer`},
		{[]string{"--other-timeout=-3"}, ""}, // a negative number is a value, not a flag
		{[]string{"--port"}, "flag needs an argument: --port"},
		{[]string{"--insecure=maybe"}, `invalid boolean value "maybe" for --insecure: want true or false`},
		{[]string{"--drain-timeout", "30"}, `invalid value "30" for flag --drain-timeout: want a duration with a unit, e.g. 10s`},
		{[]string{"--drain-t", "x"}, `invalid value "x" for flag --drain-timeout: want a duration`},
		{[]string{"--rate", "fast"}, `invalid value "fast" for flag --rate: want a number`},
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

func TestExplain(t *testing.T) {
	fs := newFS()
	assert.EqualError(t, Explain(fs, "drain-timeout", fs.Set("drain-timeout", "30")), "want a duration with a unit, e.g. 10s, 1m30s or 250ms")
	assert.EqualError(t, Explain(fs, "insecure", fs.Set("insecure", "maybe")), "want true or false")
	assert.EqualError(t, Explain(fs, "port", Set(fs, "port", "0x1")), ErrNotDecimal.Error())
	assert.NoError(t, Explain(fs, "port", nil))
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

func TestDecimalLikePythonInt(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = refused
	}{
		{"1234", "1234"}, {"01234", "1234"}, {"010", "10"}, {"0", "0"}, {"000", "0"},
		{"+5", "5"}, {"-07", "-7"}, {" 12 ", "12"}, {"1_000", "1000"}, {"-0", "0"},
		{"0x900", ""}, {"0o17", ""}, {"0b1", ""}, {"1__0", ""}, {"_1", ""}, {"1_", ""},
		{"", ""}, {"+", ""}, {"1e3", ""}, {"12a", ""}, {"1.0", ""},
	}
	for _, tc := range tests {
		got, err := DecimalString(tc.in)
		if tc.want == "" {
			assert.ErrorIs(t, err, ErrNotDecimal, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestParseIntFlagsAreDecimal(t *testing.T) {
	tests := []struct {
		args []string
		want int64 // -1 = refused
	}{
		{[]string{"--port", "01234"}, 1234},
		{[]string{"--port=010"}, 10},
		{[]string{"--port", "0x900"}, -1},
		{[]string{"--port", "0o10"}, -1},
		{[]string{"--big", "0x10"}, -1},
		{[]string{"--big", "007"}, 7},
		{[]string{"--count", "012"}, 12},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		port := fs.Int("port", 0, "")
		big := fs.Int64("big", 0, "")
		count := fs.Uint("count", 0, "")
		err := Parse(fs, tc.args)
		if tc.want < 0 {
			require.Error(t, err, tc.args)
			assert.Contains(t, err.Error(), "decimal")
			continue
		}
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.want, int64(*port)+*big+int64(*count), tc.args)
	}
	// Values set the way a config file sets them are decimal too.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	port := fs.Int("port", 0, "")
	require.NoError(t, Parse(fs, nil))
	require.ErrorIs(t, Set(fs, "port", "0x10"), ErrNotDecimal)
	require.NoError(t, Set(fs, "port", "0100"))
	assert.Equal(t, 100, *port)
	// Usage still names the type.
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.PrintDefaults()
	assert.Contains(t, out.String(), "-port int")
}

func TestParsePrefixes(t *testing.T) {
	newRef := func() (*flag.FlagSet, map[string]*string) {
		fs := flag.NewFlagSet("tlslpd", flag.ContinueOnError)
		v := map[string]*string{}
		for _, n := range []string{"host", "port", "ports", "token", "n_bits", "server-cert", "server-key"} {
			v[n] = fs.String(n, "", "")
		}
		fs.Bool("tutorial", false, "")
		fs.Bool("insecure", false, "")
		return fs, v
	}
	tests := []struct {
		args []string
		flag string
		want string
		err  string
	}{
		{args: []string{"--n_b", "8"}, flag: "n_bits", want: "8"},
		{args: []string{"--n_b=8"}, flag: "n_bits", want: "8"},
		{args: []string{"--tut", "--tok", "x"}, flag: "token", want: "x"},
		{args: []string{"--token", "--tut"}, flag: "token", want: "--tut"}, // a value, not a flag
		{args: []string{"--port", "1"}, flag: "port", want: "1"},           // exact beats prefix
		{args: []string{"--ho", "h"}, flag: "host", want: "h"},
		{args: []string{"--server", "x"}, err: "ambiguous option: --server could match --server-cert, --server-key"},
		{args: []string{"--po", "1"}, err: "ambiguous option: --po could match --port, --ports"},
		{args: []string{"--h"}, err: "ambiguous option: --h could match --help, --host"},
		{args: []string{"--nope"}, err: "flag provided but not defined: --nope"},
	}
	for _, tc := range tests {
		fs, v := newRef()
		err := Parse(fs, tc.args)
		if tc.err != "" {
			require.Error(t, err, tc.args)
			assert.Equal(t, tc.err, err.Error())
			continue
		}
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.want, *v[tc.flag], tc.args)
	}
	fs, _ := newRef()
	require.NoError(t, Parse(fs, []string{"--tut", "--insec"}))
	assert.Equal(t, "true", fs.Lookup("tutorial").Value.String())
	assert.Equal(t, "true", fs.Lookup("insecure").Value.String())
	fs, _ = newRef()
	require.ErrorIs(t, Parse(fs, []string{"--hel"}), flag.ErrHelp)
}

// DecimalString agrees with strconv on what it accepts and never yields
// anything but a canonical decimal.
func FuzzDecimalString(f *testing.F) {
	for _, s := range []string{"010", "0x10", "1_000", " -7 ", "+", "1__0", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := DecimalString(s)
		if err != nil {
			return
		}
		n, perr := strconv.ParseInt(d, 10, 64)
		if perr == nil {
			require.Equal(t, strconv.FormatInt(n, 10), d, "canonical form of %q", s)
		}
		require.NotContains(t, d, "_")
	})
}

// Prefix expansion never panics, keeps the argument count, and leaves
// every argument it does not expand as it was.
func FuzzExpandPrefixes(f *testing.F) {
	f.Add("--tut\x00--n_b\x008")
	f.Add("--token\x00--tut\x00--\x00--x")
	f.Add("-=\x00---\x00--h")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.String("token", "", "")
		fs.Int("n_bits", 0, "")
		fs.Bool("tutorial", false, "")
		fs.Bool("tls", false, "")
		out, err := expandPrefixes(fs, args)
		if err != nil {
			if !strings.Contains(err.Error(), "ambiguous option") {
				require.ErrorIs(t, err, ErrNotDecimal)
			}
			return
		}
		require.Len(t, out, len(args))
		for i := range args {
			if out[i] == args[i] || strings.HasPrefix(args[i], "-") {
				continue
			}
			// Otherwise it is an integer flag's value, made plain decimal.
			d, err := DecimalString(args[i])
			require.NoError(t, err)
			require.Equal(t, d, out[i])
		}
	})
}
