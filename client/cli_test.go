package client

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/internal/testenv"
)

func TestMainFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "nope"},
		{"zero work timeout", []string{"--work-timeout", "0"}, "work-timeout"},
		{"negative other timeout", []string{"--other-timeout=-3"}, "other-timeout"},
		{"non-int timeout", []string{"--other-timeout", "1.5"}, "other-timeout"},
		{"bad port", []string{"--ports", "3115,x"}, "ports"},
		{"port range", []string{"--ports", "70000"}, "ports"},
		{"empty ports", []string{"--ports", ""}, "ports"},
		{"bad log level", []string{"--log-level", "TRACE"}, "log-level"},
		{"bad answer", []string{"--answer", "NICK=x"}, "answer"},
		{"answer without =", []string{"--answer", "COUNTRY"}, "answer"},
		{"negative workers", []string{"--solver-workers", "-1"}, "solver-workers"},
		{"positional", []string{"extra"}, "extra"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(tc.args, &out, &errb)
			assert.Equal(t, 2, code)
			assert.Empty(t, out.String())
			msg := errb.String()
			assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
			assert.Contains(t, msg, tc.want)
		})
	}
}

func TestMainSession(t *testing.T) {
	env := testenv.New(t)
	dir := t.TempDir()
	files, err := env.PKI.Write(dir, false)
	require.NoError(t, err)
	port, _ := env.StartBaseline(t, baseline.Config{NBits: 6, Inject: baseline.InjectNever}, false)
	failPort, _ := env.StartBaseline(t, baseline.Config{NBits: 6, Inject: baseline.InjectAlways}, false)
	certFlags := []string{"--client-cert", files.ClientCert, "--private-key", files.ClientKey, "--ca-cert", files.CACert, "--host", "127.0.0.1"}

	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string
		stderr  string
		stderrN int // exact number of lines on stderr, -1 = don't care
	}{
		{name: "completed", args: append([]string{"--ports", strconv.Itoa(testenv.ClosedPort(t)) + "," + strconv.Itoa(port), "--log-level", "ERROR", "--answer", "COUNTRY=Narnia"}, certFlags...), code: 0, stdout: "session completed: port " + strconv.Itoa(port), stderrN: 0},
		{name: "tutorial logs steps", args: append([]string{"--ports", strconv.Itoa(port), "--tutorial", "--log-level", "INFO"}, certFlags...), code: 0, stdout: "session completed", stderr: "solving", stderrN: -1},
		{name: "server FAIL", args: append([]string{"--ports", strconv.Itoa(failPort), "--log-level", "CRITICAL"}, certFlags...), code: 1, stderr: "FAIL LGTk", stderrN: 1},
		{name: "nothing listening", args: append([]string{"--ports", strconv.Itoa(testenv.ClosedPort(t)), "--log-level", "CRITICAL", "--other-timeout", "2"}, certFlags...), code: 1, stderr: "connect failed", stderrN: 1},
		{name: "missing certificate", args: []string{"--ca-cert", dir + "/none.pem", "--ports", strconv.Itoa(port)}, code: 1, stderr: "none.pem", stderrN: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Main(tc.args, &out, &errb)
			require.Equal(t, tc.code, code, "stderr: %s", errb.String())
			assert.Contains(t, out.String(), tc.stdout)
			assert.Contains(t, errb.String(), tc.stderr)
			if tc.stderrN >= 0 {
				assert.Equal(t, tc.stderrN, strings.Count(errb.String(), "\n"), "stderr: %q", errb.String())
			}
		})
	}
}

func TestMainHelp(t *testing.T) {
	var out, errb bytes.Buffer
	require.Equal(t, 0, Main([]string{"-h"}, &out, &errb))
	for _, f := range []string{"--host", "--ports", "--client-cert", "--private-key", "--ca-cert", "--work-timeout", "--other-timeout", "--insecure", "--log-level", "--tutorial", "--answer", "--solver-workers"} {
		assert.Contains(t, out.String(), strings.TrimLeft(f, "-"))
	}
}
