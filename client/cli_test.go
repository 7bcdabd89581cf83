package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/internal/testenv"
	"tlslpd/internal/testlog"
	"tlslpd/protocol"
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
		{"timeout past a Duration", []string{"--work-timeout", "9300000000"}, `"9300000000" is more than 9223372036 seconds`},
		{"bad port", []string{"--ports", "3115,x"}, "ports"},
		{"port range", []string{"--ports", "70000"}, "ports"},
		{"empty ports", []string{"--ports", ""}, "ports"},
		{"bad log level", []string{"--log-level", "TRACE"}, `tlslpd client: --log-level "TRACE": want DEBUG`},
		{"empty host", []string{"--host", " "}, "--host must not be empty"},
		{"bad answer", []string{"--answer", "NICK=x"}, "answer"},
		{"answer without =", []string{"--answer", "COUNTRY"}, "answer"},
		{"negative workers", []string{"--solver-workers", "-1"}, "solver-workers"},
		{"positional", []string{"extra"}, "extra"},
		{"insecure off loopback", []string{"--insecure", "--host", "example.com"}, "--insecure skips verifying the server, so it is refused for non-loopback host"},
		{"hex port", []string{"--ports", "0x4d2"}, "ports"},
		{"ambiguous prefix", []string{"--p", "1"}, "ambiguous option: --p could match --plain, --ports, --private-key"},
		{"plain with a TLS flag", []string{"--plain", "--transient-cert"}, "--plain uses no TLS, so --insecure, --transient-cert and --server-name do not apply"},
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
	plainPort, _ := env.StartBaseline(t, baseline.Config{NBits: 6, Inject: baseline.InjectNever, Plain: true}, false)
	fixedFailPort := startFake(t, env, func(c *tls.Conn, r *bufio.Reader) {
		_, _ = c.Write([]byte("FAIL Invalid checksum received.\n"))
	})
	t.Setenv("XDG_STATE_HOME", t.TempDir())
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
		{name: "tutorial logs steps", args: append([]string{"--ports", strconv.Itoa(port), "--tutorial", "--reference-log=false", "--log-level", "INFO"}, certFlags...), code: 0, stdout: "session completed", stderr: "solving", stderrN: -1},
		// The injected FAIL is the protocol working: exit 0, like the
		// reference client, with a word on what it means.
		{name: "injected FAIL", args: append([]string{"--ports", strconv.Itoa(failPort), "--log-level", "CRITICAL"}, certFlags...), code: 0, stdout: `"FAIL LGTk" after 0 body requests: this is the protocol's random injected failure, not an error`, stderrN: 0},
		{name: "fixed FAIL", args: append([]string{"--ports", strconv.Itoa(fixedFailPort), "--log-level", "CRITICAL"}, certFlags...), code: 1, stderr: "FAIL Invalid checksum received.", stderrN: 1},
		{name: "nothing listening", args: append([]string{"--ports", strconv.Itoa(testenv.ClosedPort(t)), "--log-level", "CRITICAL", "--other-timeout", "2"}, certFlags...), code: 1, stderr: "connect failed", stderrN: 1},
		// A plain tcp:// listener: no TLS, and no certificate file is read.
		{name: "plain", args: []string{"--plain", "--host", "127.0.0.1", "--ports", strconv.Itoa(plainPort), "--ca-cert", dir + "/none.pem", "--log-level", "ERROR"}, code: 0, stdout: "session completed: port " + strconv.Itoa(plainPort), stderrN: 0},
		{name: "TLS to a plain listener says --plain", args: append([]string{"--ports", strconv.Itoa(plainPort), "--log-level", "CRITICAL"}, certFlags...), code: 1, stderr: "a plain tcp:// listener takes --plain", stderrN: 1},
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

func TestMainPrefixesAndDecimals(t *testing.T) {
	o, _, err := parseFlags([]string{"--port", "01234", "--insec", "--work-t", "010", "--tut"})
	require.NoError(t, err)
	assert.Equal(t, []int{1234}, o.cfg.Ports, "--port is --ports, 01234 is decimal")
	assert.True(t, o.insecure)
	assert.True(t, o.tutorial)
	assert.True(t, o.refLog, "the reference log is on by default in --tutorial")
	assert.Equal(t, 10*time.Second, o.cfg.WorkTimeout)
}

// --insecure does what the reference's does: the server's certificate is
// not checked (here it comes from a CA the client has never seen).
func TestMainInsecureSkipsServerVerification(t *testing.T) {
	env, stranger := testenv.New(t), testenv.New(t)
	port, _ := stranger.StartBaseline(t, baseline.Config{ZeroBits: true, Inject: baseline.InjectNever}, true)
	dir := t.TempDir()
	files, err := env.PKI.Write(dir, false)
	require.NoError(t, err)
	args := []string{"--host", "127.0.0.1", "--ports", strconv.Itoa(port), "--client-cert", files.ClientCert, "--private-key", files.ClientKey, "--log-level", "ERROR"}
	var out, errb bytes.Buffer
	require.Equal(t, 1, Main(append(args, "--ca-cert", files.CACert), &out, &errb), "verified: an unknown CA is refused")
	assert.Contains(t, errb.String(), "certificate")
	out.Reset()
	errb.Reset()
	require.Equal(t, 0, Main(append(args, "--insecure", "--ca-cert", filepath.Join(dir, "absent.pem")), &out, &errb), errb.String())
	assert.Contains(t, out.String(), "session completed")
}

func TestMainWorkBinary(t *testing.T) {
	env := testenv.New(t)
	port, _ := env.StartBaseline(t, baseline.Config{ZeroBits: true, Inject: baseline.InjectNever}, false)
	dir := t.TempDir()
	files, err := env.PKI.Write(dir, false)
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "solver.sh")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\n"+
		"echo \"$@\" > args.txt\n"+
		"env > env.txt\n"+
		"echo 'thinking...'\n"+
		"echo 'RESULT: s0lved'\n"+
		"echo 'RESULT: second'\n"), 0o755))
	var out, errb bytes.Buffer
	args := []string{"--host", "127.0.0.1", "--ports", strconv.Itoa(port), "--client-cert", files.ClientCert, "--private-key", files.ClientKey,
		"--ca-cert", files.CACert, "--work-binary", bin, "--log-level", "ERROR"}
	require.Equal(t, 0, Main(args, &out, &errb), errb.String())
	got, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "args.txt"))
	require.NoError(t, err, "run in the binary's directory")
	fields := strings.Fields(string(got))
	require.Len(t, fields, 2)
	assert.Equal(t, "0", fields[1], "BINARY TOKEN N_BITS")
	envText, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "env.txt"))
	require.NoError(t, err)
	assert.Contains(t, string(envText), "LC_ALL=C")
	assert.NotContains(t, string(envText), "HOME=")
	assert.NotContains(t, string(envText), "XDG_STATE_HOME=")
}

func TestRunWorkBinaryErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755))
		return p
	}
	_, err := RunWorkBinary(context.Background(), write("none.sh", "echo nothing; echo oops >&2\n"), "AUTH", 8)
	require.ErrorIs(t, err, ErrWorkBinary)
	assert.Contains(t, err.Error(), "without a RESULT: line; its stderr: oops")
	_, err = RunWorkBinary(context.Background(), write("fails.sh", "exit 3\n"), "AUTH", 8)
	require.ErrorIs(t, err, ErrWorkBinary)
	assert.Contains(t, err.Error(), "exit status 3")
	_, err = RunWorkBinary(context.Background(), filepath.Join(dir, "missing"), "AUTH", 8)
	require.ErrorIs(t, err, ErrWorkBinary)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err = RunWorkBinary(ctx, write("slow.sh", "exec sleep 30\n"), "AUTH", 8)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 10*time.Second, "a cancelled solver is stopped")

	// A script whose child inherits its stdout: the child is stopped too,
	// and the client does not wait for it to close the pipe.
	pidFile := filepath.Join(dir, "child.pid")
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began = time.Now()
	_, err = RunWorkBinary(ctx, write("wrapper.sh", "sleep 30 &\necho $! > "+pidFile+"\nwait\n"), "AUTH", 8)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 10*time.Second, "a solver's child holding stdout does not keep the client waiting")
	pid, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		_, err := os.Stat("/proc/" + strings.TrimSpace(string(pid)))
		return errors.Is(err, os.ErrNotExist)
	}, 5*time.Second, 20*time.Millisecond, "the solver's child was stopped with it")
}

// The server may end the session while the client solves WORK; the
// client stops solving at once instead of running into --work-timeout.
func TestRunStopsSolvingWhenTheServerEndsTheSession(t *testing.T) {
	env := testenv.New(t)
	for _, tc := range []struct {
		name  string
		after func(c *tls.Conn)
		check func(t *testing.T, err error)
	}{
		{"FAIL", func(c *tls.Conn) { _, _ = c.Write([]byte(protocol.FailShutdown + "\n")) }, func(t *testing.T, err error) {
			var sf *ServerFailError
			require.ErrorAs(t, err, &sf)
			assert.Equal(t, protocol.FailShutdown, sf.Line)
			assert.False(t, sf.Injected)
		}},
		{"close", func(c *tls.Conn) { _ = c.Close() }, func(t *testing.T, err error) {
			require.ErrorIs(t, err, ErrProtocol)
			assert.Contains(t, err.Error(), "connection closed")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port := startFake(t, env, func(c *tls.Conn, r *bufio.Reader) {
				_, _ = c.Write([]byte("HELLO\n"))
				_, _ = r.ReadString('\n')
				_, _ = c.Write([]byte("WORK AUTH 60\n")) // hopeless at any speed
				time.Sleep(300 * time.Millisecond)
				tc.after(c)
				time.Sleep(100 * time.Millisecond)
			})
			var progress testlog.Buffer
			cfg := baseCfg(env.AnonTLS, port)
			cfg.WorkTimeout = time.Minute
			cfg.Progress, cfg.ProgressEvery = &progress, 50*time.Millisecond
			began := time.Now()
			_, err := Run(context.Background(), cfg)
			assert.Less(t, time.Since(began), 20*time.Second, "stopped long before the work timeout")
			tc.check(t, err)
			assert.Regexp(t, regexp.MustCompile(`solving WORK at n_bits 60: \S+ hashes in \d+s, \S+ hashes/s; a solution takes 1.15e\+18 hashes on average, about \S+ years at this rate`), progress.String())
		})
	}
}

// Cancelling the run (Ctrl-C) while solving is reported as that, never as
// the server ending the session.
func TestRunCancelledWhileSolving(t *testing.T) {
	env := testenv.New(t)
	port := startFake(t, env, func(c *tls.Conn, r *bufio.Reader) {
		_, _ = c.Write([]byte("HELLO\n"))
		_, _ = r.ReadString('\n')
		_, _ = c.Write([]byte("WORK AUTH 60\n")) // hopeless at any speed
		_, _ = r.ReadString('\n')                // until the client goes
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	cfg := baseCfg(env.AnonTLS, port)
	cfg.WorkTimeout = time.Minute
	began := time.Now()
	_, err := Run(ctx, cfg)
	assert.Less(t, time.Since(began), 20*time.Second, "stopped long before the work timeout")
	require.ErrorIs(t, err, context.Canceled)
	assert.NotContains(t, err.Error(), "server ended")
	assert.Contains(t, err.Error(), "solving WORK (n_bits 60)")
}

// The reference client's log lines, in --tutorial: a skipped port, then
// each exchange as received and as sent, then the close.
func TestMainReferenceLog(t *testing.T) {
	env := testenv.New(t)
	port, _ := env.StartBaseline(t, baseline.Config{NBits: 4, Tutorial: true, Token: "AUTH"}, false)
	closed := testenv.ClosedPort(t)
	dir := t.TempDir()
	files, err := env.PKI.Write(dir, false)
	require.NoError(t, err)
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	logPath := filepath.Join(state, "tlslp", "logs", "client.log")
	require.NoError(t, os.MkdirAll(filepath.Dir(logPath), 0o755))
	require.NoError(t, os.WriteFile(logPath, []byte("an older run\n"), 0o644))
	var out, errb bytes.Buffer
	args := []string{"--tutorial", "--host", "localhost", "--ports", strconv.Itoa(closed) + "," + strconv.Itoa(port),
		"--client-cert", files.ClientCert, "--private-key", files.ClientKey, "--ca-cert", files.CACert, "--quiet"}
	require.Equal(t, 0, Main(args, &out, &errb), errb.String())
	data, err := os.ReadFile(logPath)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	const head = "2000-01-01T00:00:00+0100 "
	warn := head + "WARNING tlslp.client: Can't connect to 'localhost':" + strconv.Itoa(closed) + ": Failed to connect to localhost:" + strconv.Itoa(closed)
	assert.Equal(t, warn+"\n", errb.String(), "WARNING lines go to stderr too")
	info := func(s string) string { return head + "INFO tlslp.client: " + s }
	sum := sha256.Sum256([]byte("AUTHLGTk"))
	cksum := hex.EncodeToString(sum[:])
	answers := DefaultAnswers()
	want := []string{warn, info("Connected to " + strconv.Itoa(port)), info("Received 'HELLO'"), info(`Sending to server: 'HELLOBACK\n'`), info("Received 'WORK AUTH 4'")}
	require.Len(t, lines, len(want)+1+2*protocol.NumBodyCommands+3, string(data))
	assert.Equal(t, want, lines[:len(want)])
	assert.Regexp(t, `^`+regexp.QuoteMeta(info("Sending to server: '"))+`\S+\\n'$`, lines[len(want)], "the suffix")
	rest := lines[len(want)+1:]
	for i, cmd := range protocol.BodyCommands {
		assert.Equal(t, info("Received '"+cmd+" LGTk'"), rest[2*i])
		assert.Equal(t, info("Sending to server: "+reprForTest(cksum+" "+answers[cmd]+"\n")), rest[2*i+1])
	}
	assert.Equal(t, []string{info("Received 'DONE'"), info(`Sending to server: 'OK\n'`), info("Connection closed.")}, rest[2*protocol.NumBodyCommands:])
}

// reprForTest is Python's repr for the plain ASCII the answers hold.
func reprForTest(s string) string {
	q := "'"
	if strings.Contains(s, "'") {
		q = `"`
	}
	return q + strings.ReplaceAll(s, "\n", `\n`) + q
}
