package eventloop

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fdLimitChild makes the test binary the server side of
// TestAcceptSurvivesDescriptorExhaustion, in a process of its own so that
// its low open-file limit touches nothing else.
const fdLimitChild = "TLSLPD_TEST_FDLIMIT_CHILD"

// More pending connections than the process has descriptors for must not
// stop the server: upstream gnet ends the loop (and the engine) when
// accept(2) fails with EMFILE; the patched gnet closes the excess at once
// (third_party/gnet/fdlimit_tlslpd.go) and goes on serving.
func TestAcceptSurvivesDescriptorExhaustion(t *testing.T) {
	if os.Getenv(fdLimitChild) == "1" {
		serveAtLowFdLimit(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptSurvivesDescriptorExhaustion$", "-test.count=1")
	cmd.Env = append(os.Environ(), fdLimitChild+"=1")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(ioBound):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan(), "the child names its address")
	var addr string
	_, err = fmt.Sscanf(lines.Text(), "listening %s", &addr)
	require.NoError(t, err, "child said %q", lines.Text())
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	// 120 connections against a limit of 64 descriptors, nothing sent.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range 120 {
		c, err := net.DialTimeout("tcp", addr, ioBound)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	// Read from all at once (a read past its deadline would not even
	// look): the accepted ones wait for a ClientHello and time out.
	var closedAtOnce atomic.Int32
	var wg sync.WaitGroup
	deadline := time.Now().Add(500 * time.Millisecond)
	for _, c := range conns {
		require.NoError(t, c.SetReadDeadline(deadline))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ne net.Error
			if _, err := c.Read(make([]byte, 1)); err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
				closedAtOnce.Add(1) // EOF or reset: refused for want of descriptors
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-exited:
		t.Fatalf("the server process ended under descriptor exhaustion: %v", err)
	default:
	}
	assert.Positive(t, closedAtOnce.Load(), "connections past the descriptor limit are closed at once, not left waiting")

	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	// Descriptors free again: a new client gets its handshake answered.
	require.Eventually(t, func() bool {
		raw, err := net.DialTimeout("tcp", addr, ioBound)
		if err != nil {
			return false
		}
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(ioBound))
		c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		return c.Handshake() == nil // TLS 1.3: done on the client's side after its Finished
	}, ioBound, 50*time.Millisecond, "the server answers handshakes after the flood")
}

func serveAtLowFdLimit(t *testing.T) {
	var rl unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &rl))
	rl.Cur = 64
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &rl))
	h := startServer(t, func(c *Config) { c.MaxConns = 5000 })
	fmt.Printf("listening %s\n", h.addr)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent is done
	select {
	case err := <-h.runErr:
		t.Fatalf("server stopped: %v", err)
	default:
	}
}
