package compat

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/internal/testbin"
	"tlslpd/pow"
)

// What the reference documents, spelled out here rather than taken from
// our own packages, so a change there cannot silently change the target.
const (
	refToken        = "gkcjcibIFynKssuJnJpSrgvawiVjLjEbdFuYQzuWROTeTaSmqFCAzuwkwLCRgIIq"
	refRandomString = "LGTk"
	tutorialTime    = "2000-01-01T00:00:00+0100"
	bound           = 20 * time.Second // the longest any step here may take
)

var bodyCommands = []string{"FULL_NAME", "EMAIL1", "EMAIL2", "SOCIAL", "BIRTHDATE", "COUNTRY", "ADDR_LINE1", "ADDR_LINE2"}

var binary string

func TestMain(m *testing.M) {
	testbin.Main(m, &binary, testbin.Build{})
}

// home is a user's directory: certificates/ as the reference's script
// leaves it, and XDG_STATE_HOME for the log files.
type home struct {
	dir, state string
	pki        *certs.PKI
}

func newHome(t *testing.T) *home {
	t.Helper()
	dir, pki := testbin.Home(t)
	return &home{dir: dir, state: filepath.Join(dir, "state"), pki: pki}
}

func (h *home) env() []string {
	return append(os.Environ(), "XDG_STATE_HOME="+h.state)
}

func (h *home) logFile(name string) string { return filepath.Join(h.state, "tlslp", "logs", name) }

func (h *home) command(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Dir = h.dir
	cmd.Env = h.env()
	return cmd
}

// run runs the binary to its end and returns its exit status and output.
func (h *home) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := h.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	require.NoError(t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(bound):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("tlslpd %v did not finish", args)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// server is the binary serving as the reference server does.
type server struct {
	*testbin.Proc
	h    *home
	port int
}

var listening = regexp.MustCompile(`Server listening on https://'[^']*':(\d+)`)

// startServer runs the server with the reference's log mode on (it says
// where it listens) on an ephemeral port of 127.0.0.1. The port is read
// from the reference's log file, as a user of the reference reads it.
func (h *home) startServer(t *testing.T, args ...string) *server {
	t.Helper()
	require.NoError(t, os.RemoveAll(h.logFile("server.log")))
	s := &server{h: h}
	s.Proc = testbin.Launch(t, h.command(append([]string{"--host", "127.0.0.1", "--port", "0", "--reference-log"}, args...)...))
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(h.logFile("server.log"))
		if m := listening.FindSubmatch(data); m != nil {
			s.port, _ = strconv.Atoi(string(m[1]))
			return s
		}
		select {
		case <-s.Exited():
			t.Fatalf("server exited before listening: %s", s.Text())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server did not listen: %s", s.Text())
	return nil
}

// conn is a raw protocol connection: lines are read as bytes, '\n' and all.
type conn struct {
	t *testing.T
	c *tls.Conn
	r *bufio.Reader
}

func (s *server) dial(t *testing.T) *conn {
	t.Helper()
	cfg, err := s.h.pki.ClientConfig("localhost")
	require.NoError(t, err)
	raw, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), bound)
	require.NoError(t, err)
	c := tls.Client(raw, cfg)
	require.NoError(t, c.SetDeadline(time.Now().Add(bound)))
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, c: c, r: bufio.NewReader(c)}
}

// expect reads one line and checks its exact bytes.
func (c *conn) expect(want string) {
	c.t.Helper()
	got, err := c.r.ReadString('\n')
	require.NoError(c.t, err, "want %q, got %q", want, got)
	require.Equal(c.t, want, got)
}

// expectFail reads the FAIL line and then the end of the connection.
func (c *conn) expectFail(want string) {
	c.t.Helper()
	c.expect(want)
	_, err := c.r.ReadByte()
	require.ErrorIs(c.t, err, io.EOF, "the server closes after a FAIL line")
}

func (c *conn) send(s string) {
	c.t.Helper()
	_, err := io.WriteString(c.c, s)
	require.NoError(c.t, err)
}

// work plays HELLO and returns the WORK line's token and bits.
func (c *conn) work() (string, int) {
	c.t.Helper()
	c.expect("HELLO\n")
	c.send("HELLOBACK\n")
	line, err := c.r.ReadString('\n')
	require.NoError(c.t, err)
	f := strings.Fields(line)
	require.Len(c.t, f, 3, line)
	require.Equal(c.t, "WORK", f[0])
	require.Equal(c.t, "WORK "+f[1]+" "+f[2]+"\n", line, "one space apart, one newline")
	n, err := strconv.Atoi(f[2])
	require.NoError(c.t, err)
	return f[1], n
}

// solve answers WORK with a valid suffix.
func (c *conn) solve(token string, nBits int) {
	c.t.Helper()
	sol, err := pow.Solve(context.Background(), token, nBits, 1)
	require.NoError(c.t, err)
	c.send(sol.Suffix + "\n")
}

func checksum(token, random string) string {
	sum := sha256.Sum256([]byte(token + random))
	return hex.EncodeToString(sum[:])
}
