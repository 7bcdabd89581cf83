package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/internal/testbin"
	"tlslpd/internal/testlog"
	"tlslpd/internal/testmetrics"
	"tlslpd/pow"
	"tlslpd/protocol"
)

// These tests run the real binary: signals, files and exit codes are the
// product here. Every server binds 127.0.0.1 port 0 and is killed at the end.

var binary string

func TestMain(m *testing.M) {
	testbin.Main(m, &binary, testbin.Build{Flags: []string{"-race"}})
}

const bound = 20 * time.Second // the longest any step here may take

// proc is a tlslpd process under test, with the working directory it
// runs in and the PKI written there.
type proc struct {
	*testbin.Proc
	dir string
	pki *certs.PKI
}

// startDaemon writes a fresh PKI into a temp dir and starts the binary
// there with args (plus defaults that keep tests short and loopback-only).
func startDaemon(t *testing.T, args ...string) *proc {
	t.Helper()
	dir, pki := testbin.Home(t)
	base := []string{"--n_bits", "4", "--token", "AUTH", "--log-level", "DEBUG", "--status-interval", "0"}
	if !hasFlag(args, "--listen") {
		base = append(base, "--listen", "127.0.0.1:0")
	}
	p := startIn(t, dir, append(base, args...)...)
	p.pki = pki
	return p
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

func startIn(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	return startCmd(t, dir, exec.Command(binary, args...))
}

// startCmd starts cmd (tlslpd, or a wrapper that execs it) in dir and
// waits until it serves.
func startCmd(t *testing.T, dir string, cmd *exec.Cmd) *proc {
	t.Helper()
	cmd.Dir = dir
	return &proc{Proc: testbin.Start(t, cmd, bound), dir: dir}
}

// client is a protocol client for the daemon under test.
type client struct {
	t    testing.TB
	conn *tls.Conn
	r    *bufio.Reader
}

func (p *proc) dial(t testing.TB, pki *certs.PKI, addr string) (*client, error) {
	cc, err := pki.ClientConfig("localhost")
	if err != nil {
		return nil, err
	}
	raw, err := net.DialTimeout("tcp", addr, bound)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cc)
	if err := conn.SetDeadline(time.Now().Add(bound)); err != nil {
		raw.Close()
		return nil, err
	}
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}, nil
}

func (c *client) line() (string, error) {
	s, err := c.r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

func (c *client) send(s string) error {
	_, err := io.WriteString(c.conn, s+"\n")
	return err
}

// toWork plays HELLO and reads WORK; returns the token.
func (c *client) toWork() (string, error) {
	if l, err := c.line(); err != nil || l != "HELLO" {
		return "", fmt.Errorf("want HELLO, got %q (%v)", l, err)
	}
	if err := c.send("HELLOBACK"); err != nil {
		return "", err
	}
	l, err := c.line()
	f := strings.Fields(l)
	if err != nil || len(f) != 3 || f[0] != "WORK" {
		return "", fmt.Errorf("want WORK, got %q (%v)", l, err)
	}
	return f[1], nil
}

// finish answers WORK and the body; returns the outcome as the client saw
// it: "completed" or the FAIL line.
func (c *client) finish(token string) (string, error) {
	sol, err := pow.Solve(context.Background(), token, 4, 1)
	if err != nil {
		return "", err
	}
	if err := c.send(sol.Suffix); err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(token + protocol.DefaultRandomString))
	cksum := hex.EncodeToString(sum[:])
	for {
		l, err := c.line()
		if err != nil {
			return "", fmt.Errorf("read: %w", err)
		}
		switch {
		case l == "DONE":
			if err := c.send("OK"); err != nil {
				return "", err
			}
			if _, err := c.r.ReadByte(); err != io.EOF {
				return "", fmt.Errorf("want close after OK, got %v", err)
			}
			return "completed", nil
		case strings.HasPrefix(l, "FAIL"):
			return l, nil
		}
		if err := c.send(cksum + " v"); err != nil {
			return "", err
		}
	}
}

func (c *client) session() (string, error) {
	token, err := c.toWork()
	if err != nil {
		return "", err
	}
	return c.finish(token)
}

func readRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return testlog.ParseLines(t, data)
}

func TestSIGTERMDrainsAndFlushesRecords(t *testing.T) {
	p := startDaemon(t, "--records", "records.jsonl", "--drain-timeout", "10s")
	c, err := p.dial(t, p.pki, p.Listen[0])
	require.NoError(t, err)
	token, err := c.toWork()
	require.NoError(t, err)

	p.Signal(syscall.SIGTERM)
	p.Logged("draining", bound)
	// New connections are refused while the session in flight finishes.
	if late, err := p.dial(t, p.pki, p.Listen[0]); err == nil {
		_, lerr := late.line()
		assert.Error(t, lerr, "a connection during drain must be closed")
	}
	outcome, err := c.finish(token)
	require.NoError(t, err)
	require.Equal(t, 0, p.ExitCode(bound))

	recs := readRecords(t, filepath.Join(p.dir, "records.jsonl"))
	require.Len(t, recs, 1, "exactly the one session; refused connections leave no record")
	assert.Equal(t, "CN=tlslp-client,O=tlslpd", recs[0]["subject"])
	// Normal mode may inject FAIL; either way the session ran to its end.
	if outcome == "completed" {
		assert.Equal(t, "completed", recs[0]["outcome"])
		require.Len(t, recs[0]["replies"], protocol.BodyRequests)
		first := recs[0]["replies"].([]any)[0].(map[string]any)
		assert.Contains(t, protocol.BodyCommands[:], first["command"])
		assert.Equal(t, "v", first["value"])
	} else {
		assert.Equal(t, "FAIL "+protocol.DefaultRandomString, outcome)
		assert.Equal(t, "injected_fail", recs[0]["outcome"])
	}
}

func TestDrainTimeoutEndsStuckSessionsWithFail(t *testing.T) {
	p := startDaemon(t, "--records", "records.jsonl", "--drain-timeout", "500ms")
	c, err := p.dial(t, p.pki, p.Listen[0])
	require.NoError(t, err)
	_, err = c.toWork()
	require.NoError(t, err)
	p.Signal(syscall.SIGINT)
	l, err := c.line()
	require.NoError(t, err)
	assert.Equal(t, protocol.FailShutdown, l)
	require.Equal(t, 0, p.ExitCode(bound))
	recs := readRecords(t, filepath.Join(p.dir, "records.jsonl"))
	require.Len(t, recs, 1)
	assert.Equal(t, "shutdown", recs[0]["outcome"])
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	p := startDaemon(t, "--drain-timeout", "1m")
	c, err := p.dial(t, p.pki, p.Listen[0])
	require.NoError(t, err)
	_, err = c.toWork()
	require.NoError(t, err)
	p.Signal(syscall.SIGTERM)
	p.Logged("draining", bound)
	// A deliberate second signal comes after the window in which a repeat
	// is taken for the same request (see TestSignalTwiceAtOnceIsOneRequest).
	time.Sleep(DuplicateSignalWindow + 200*time.Millisecond)
	began := time.Now()
	p.Signal(syscall.SIGTERM)
	assert.Equal(t, 1, p.ExitCode(bound))
	assert.Less(t, time.Since(began), 5*time.Second)
	// Logs are batched off the event loops; the last line still made it
	// out before the exit.
	p.Logged("second signal: exiting at once", bound)
}

// coreutils' timeout sends SIGTERM to the child and to its process group,
// so the daemon gets it twice at once: one request, a drain, exit 0.
func TestSignalTwiceAtOnceIsOneRequest(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startDaemon(t, "--drain-timeout", "1m")
			c, err := p.dial(t, p.pki, p.Listen[0])
			require.NoError(t, err)
			token, err := c.toWork()
			require.NoError(t, err)
			p.Signal(sig)
			p.Signal(sig)
			p.Logged("draining", bound)
			// The session in flight still finishes: the drain goes on.
			out, err := c.finish(token)
			require.NoError(t, err)
			assert.True(t, out == "completed" || strings.HasPrefix(out, "FAIL "+protocol.DefaultRandomString), out)
			assert.Equal(t, 0, p.ExitCode(bound))
			assert.NotContains(t, p.Text(), "second signal")
		})
	}
}

func TestUnderCoreutilsTimeout(t *testing.T) {
	timeoutBin, err := exec.LookPath("timeout")
	if err != nil {
		t.Skip("coreutils timeout not installed")
	}
	dir, _ := testbin.Home(t)
	cmd := exec.Command(timeoutBin, "--preserve-status", "2", binary, "--listen", "127.0.0.1:0", "--status-interval", "0")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	assert.Equal(t, 0, code, "timeout's SIGTERM to child and group is one request:\n%s", out)
	assert.NotContains(t, string(out), "second signal")
}

func TestSIGHUPReloadsCertificatesWithoutDroppingSessions(t *testing.T) {
	p := startDaemon(t)
	old, err := p.dial(t, p.pki, p.Listen[0])
	require.NoError(t, err)
	oldToken, err := old.toWork()
	require.NoError(t, err)

	// Load in flight across the reload: sessions established on the old
	// material, finishing after it.
	type inflight struct {
		c     *client
		token string
	}
	var load []inflight
	for range 8 {
		c, err := p.dial(t, p.pki, p.Listen[0])
		require.NoError(t, err)
		token, err := c.toWork()
		require.NoError(t, err)
		load = append(load, inflight{c, token})
	}

	// A new PKI replaces the files; SIGHUP picks it up.
	next, err := certs.New(certs.Options{})
	require.NoError(t, err)
	_, err = next.Write(filepath.Join(p.dir, "certificates"), true)
	require.NoError(t, err)
	p.Signal(syscall.SIGHUP)
	p.Logged("certificates reloaded", bound)
	var wg sync.WaitGroup
	for _, s := range load {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcome, err := s.c.finish(s.token)
			if assert.NoError(t, err, "session across the reload") {
				assert.True(t, outcome == "completed" || outcome == "FAIL LGTk", outcome)
			}
		}()
	}
	wg.Wait()

	// The established session is untouched.
	outcome, err := old.finish(oldToken)
	require.NoError(t, err)
	assert.NotEmpty(t, outcome)
	// New clients of the new CA get in; clients of the old CA do not.
	c, err := p.dial(t, next, p.Listen[0])
	require.NoError(t, err)
	_, err = c.toWork()
	require.NoError(t, err)
	stale, err := p.dial(t, p.pki, p.Listen[0])
	require.NoError(t, err)
	_, err = stale.line()
	assert.Error(t, err, "the old CA's clients must be refused after the reload")
}

func TestSIGHUPWithBadFilesKeepsOldCertificates(t *testing.T) {
	p := startDaemon(t)
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, "certificates", certs.ServerKeyFile), []byte("not a key"), 0o600))
	p.Signal(syscall.SIGHUP)
	failed := p.Logged("reload failed; keeping the current certificates", bound)
	assert.Contains(t, failed["error"], certs.ServerKeyFile)
	c, err := p.dial(t, p.pki, p.Listen[0])
	require.NoError(t, err)
	_, err = c.toWork()
	require.NoError(t, err, "the old certificates still serve")
}

func TestSeveralListenersAndReusePort(t *testing.T) {
	port := freePort(t)
	p := startDaemon(t, "--listen", "127.0.0.1:0", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--reuseport")
	require.Len(t, p.Listen, 2)
	for _, addr := range p.Listen {
		c, err := p.dial(t, p.pki, addr)
		require.NoError(t, err)
		_, err = c.toWork()
		require.NoError(t, err, addr)
	}
	// A second process shares the port thanks to SO_REUSEPORT.
	second := startIn(t, p.dir, "--n_bits", "4", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--reuseport", "--status-interval", "0")
	require.Len(t, second.Listen, 1)
}

func TestPortInUseIsAClearError(t *testing.T) {
	first := startDaemon(t)
	_, port, err := net.SplitHostPort(first.Listen[0])
	require.NoError(t, err)
	// The loops listen with SO_REUSEPORT, yet without --reuseport a second
	// daemon on the same port must fail as a plain listener would.
	cmd := exec.Command(binary, "--n_bits", "4", "--listen", "127.0.0.1:"+port, "--status-interval", "0")
	cmd.Dir = first.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(bound):
		_ = cmd.Process.Kill()
		t.Fatal("the second daemon started serving on a port in use")
	}
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line, like every startup error:\n%s", stderr.String())
	assert.Contains(t, stderr.String(), "address already in use")
	assert.Contains(t, stderr.String(), "127.0.0.1:"+port)
}

// A stderr nobody reads must neither stall the sessions (log lines are
// written off the event loops) nor keep the daemon from exiting.
func TestStuckStderr(t *testing.T) {
	dir, pki := testbin.Home(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close() // never read: the pipe fills and writes to it block
	// 1000 failed handshakes from one address would spend its budget
	// (--failed-handshakes-per-ip) and be refused before they log.
	cmd := exec.Command(binary, "--n_bits", "4", "--listen", addr, "--log-level", "DEBUG", "--status-interval", "0",
		"--failed-handshakes-per-ip", "0")
	cmd.Dir = dir
	cmd.Stderr = w
	require.NoError(t, cmd.Start())
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, bound)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, bound, 10*time.Millisecond)

	// Each refused non-TLS connection logs a DEBUG line; 200 KiB of them
	// is more than a pipe holds.
	for range 1000 {
		c, err := net.DialTimeout("tcp", addr, bound)
		require.NoError(t, err)
		require.NoError(t, c.SetDeadline(time.Now().Add(bound)))
		_, _ = c.Write([]byte("HELLO\n"))
		_, err = io.Copy(io.Discard, c) // until the server closes it
		c.Close()
		require.NoError(t, err, "the server still turns connections away")
	}
	p := &proc{}
	c, err := p.dial(t, pki, addr)
	require.NoError(t, err)
	_, err = c.toWork()
	require.NoError(t, err, "sessions go on while stderr is stuck")
	c.conn.Close()

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
	case <-time.After(bound):
		t.Fatal("the daemon did not exit with its stderr stuck")
	}
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestConfigFileAndHealthEndpoints(t *testing.T) {
	dir, pki := testbin.Home(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tlslpd.yaml"), []byte(
		"listen: [127.0.0.1:0]\nn_bits: 60\ntoken: AUTH\nmetrics-addr: 127.0.0.1:0\nstatus-interval: 0\n"), 0o644))
	// The flag overrides the file's n_bits.
	p := startIn(t, dir, "--config", "tlslpd.yaml", "--n_bits", "4")
	p.pki = pki
	c, err := p.dial(t, pki, p.Listen[0])
	require.NoError(t, err)
	// Held open to the end: an unreferenced conn may be closed by its
	// finalizer, and the session below must still be at WORK.
	defer c.conn.Close()
	_, err = c.toWork()
	require.NoError(t, err)
	serving := p.Logged("tlslpd serving", bound)
	assert.Equal(t, 4.0, serving["n_bits"])

	require.NotEmpty(t, p.Metrics)
	base := strings.TrimSuffix(p.Metrics, "/metrics")
	hc := http.Client{Timeout: bound}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := hc.Get(base + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
	}
	series := testmetrics.Scrape(t, p.Metrics)
	assert.Equal(t, 1.0, series.Get(t, `tlslpd_sessions_active{state="work"}`))
	assert.True(t, series.Names()["go_goroutines"], "the Go runtime's metrics are exported")
}

func TestBadConfigFileIsOneLineExit2(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("port: 1\nnope: 2\n"), 0o644))
	code, msg := failsAtStart(t, dir, "--config", "bad.yaml")
	assert.Equal(t, 2, code)
	assert.Contains(t, msg, `unknown key "nope"`)
}

func TestMissingCertificatesIsAClearError(t *testing.T) {
	code, msg := failsAtStart(t, t.TempDir(), "--listen", "127.0.0.1:0")
	assert.Equal(t, 1, code)
	assert.Contains(t, msg, "certificates/server-cert.pem")
	assert.Contains(t, msg, "tlslpd certs", "says how to make them")
}

// failsAtStart runs the daemon in dir with args, which must make it exit
// at start with one line on stderr (bounded: a daemon that serves instead
// is killed and fails the test); it returns the exit status and the line.
func failsAtStart(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "the daemon did not exit at start with %v", args)
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%v", args)
	assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line on stderr with %v: %s", args, stderr.String())
	return exit.ExitCode(), stderr.String()
}

// Startup errors are one line on stderr, each naming its file once, with
// the `tlslpd certs` hint only where those are the files missing.
func TestStartupErrorsAreOneLine(t *testing.T) {
	dir, _ := testbin.Home(t)
	tests := []struct {
		name     string
		args     []string
		want     string
		notWant  string
		wantOnce string
	}{
		{"SNI file missing", []string{"--sni", "a.example=nope.pem,nope-key.pem"}, "SNI a.example certificate nope.pem is missing", "tlslpd certs", ""},
		{"custom certificate missing", []string{"--server-cert", "mine.pem"}, "server certificate mine.pem is missing", "tlslpd certs", ""},
		{"records directory missing", []string{"--records", "nope/r.jsonl"}, `directory "nope" does not exist`, "", "records:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := failsAtStart(t, dir, append([]string{"--listen", "127.0.0.1:0", "--status-interval", "0"}, tc.args...)...)
			assert.Equal(t, 1, code)
			assert.Contains(t, msg, tc.want)
			if tc.notWant != "" {
				assert.NotContains(t, msg, tc.notWant)
			}
			if tc.wantOnce != "" {
				assert.Equal(t, 1, strings.Count(msg, tc.wantOnce), msg)
			}
		})
	}
}

// Only TLS needs certificates: a daemon listening on tcp:// and ws:// alone
// starts where there are none, serves sessions and reloads on SIGHUP
// without complaint; one TLS-capable listener among them (auto://, wss://,
// tls://) makes the missing files the one-line error again.
func TestPlainOnlyNeedsNoCertificates(t *testing.T) {
	dir := t.TempDir() // no certificates/ here
	p := startIn(t, dir, "--n_bits", "4", "--token", "AUTH", "--status-interval", "0",
		"--listen", "tcp://127.0.0.1:0", "--listen", "ws://127.0.0.1:0")
	require.Len(t, p.Listen, 2)
	assert.Equal(t, "plain (no TLS listener)", p.Logged("tlslpd serving", bound)["mode"])

	p.Signal(syscall.SIGHUP) // nothing to reload, nothing to fail
	conn, err := net.DialTimeout("tcp", p.Listen[0], bound)
	require.NoError(t, err)
	require.NoError(t, conn.SetDeadline(time.Now().Add(bound)))
	line, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "HELLO\n", line)
	require.NoError(t, conn.Close())

	p.Signal(syscall.SIGTERM)
	assert.Equal(t, 0, p.ExitCode(bound))
	assert.NotContains(t, p.Text(), "reload failed")

	for _, tls := range []string{"auto://127.0.0.1:0", "wss://127.0.0.1:0", "127.0.0.1:0"} {
		code, msg := failsAtStart(t, dir, "--listen", "tcp://127.0.0.1:0", "--listen", tls)
		assert.Equal(t, 1, code, tls)
		assert.Contains(t, msg, "certificates/server-cert.pem", tls)
	}
}

func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan string, 16)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000") // systemd's WatchdogSec=0.2s: ping every 0.1 s
	p := startDaemon(t)
	expectState := func(want string) {
		t.Helper()
		for {
			select {
			case s := <-got:
				if strings.Contains(s, want) {
					return
				}
			case <-time.After(bound):
				t.Fatalf("no %s from tlslpd", want)
			}
		}
	}
	expectState("READY=1")
	expectState("WATCHDOG=1")
	p.Signal(syscall.SIGHUP)
	expectState("RELOADING=1")
	expectState("READY=1")
	p.Signal(syscall.SIGTERM)
	expectState("STOPPING=1")
	require.Equal(t, 0, p.ExitCode(bound))
}

func TestStatusLine(t *testing.T) {
	p := startDaemon(t, "--status-interval", "200ms")
	c, err := p.dial(t, p.pki, p.Listen[0])
	require.NoError(t, err)
	_, err = c.toWork()
	require.NoError(t, err)
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		var found map[string]any
		for _, m := range p.Events() {
			if m["message"] == "status" && m["sessions_active_work"] == 1.0 {
				found = m
			}
		}
		if found != nil {
			assert.Equal(t, 1.0, found["connections_open"])
			for _, k := range []string{"tls_handshakes_per_second", "pow_checks_per_second", "sessions_finished_per_second", "sessions_active_hello", "sessions_active_body", "log_lines_dropped"} {
				assert.Contains(t, found, k)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no status line with the parked session:\n%s", p.Text())
}
