package testenv

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/certs"
	"tlslpd/config"
	"tlslpd/daemon"
	"tlslpd/eventloop"
)

// bound is how long a server may take to start, or to stop when its test
// ends.
const bound = 15 * time.Second

// Env is a PKI with ready-made TLS configurations.
type Env struct {
	PKI       *certs.PKI
	ServerTLS tls.Certificate
	ClientTLS *tls.Config // mTLS client
	AnonTLS   *tls.Config // trusts the server, presents no certificate
}

// New makes a fresh PKI.
func New(t testing.TB) *Env {
	t.Helper()
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	srv, err := pki.Server.TLS()
	require.NoError(t, err)
	cli, err := pki.ClientConfig("")
	require.NoError(t, err)
	return &Env{
		PKI:       pki,
		ServerTLS: srv,
		ClientTLS: cli,
		AnonTLS:   &tls.Config{RootCAs: pki.CertPool()},
	}
}

// Files writes the PKI under a temporary directory, with the reference
// file names, for tests of command lines.
func (e *Env) Files(t testing.TB) certs.Files {
	t.Helper()
	files, err := e.PKI.Write(filepath.Join(t.TempDir(), "certificates"), false)
	require.NoError(t, err)
	return files
}

// Listen binds an ephemeral port on 127.0.0.1.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}

// Port is a listener's port.
func Port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

// StartBaseline serves cfg (the goroutine-per-connection baseline server)
// on an ephemeral loopback port until the test ends, and returns the port
// and a channel that receives Serve's result.
func (e *Env) StartBaseline(t testing.TB, cfg baseline.Config, insecure bool) (int, <-chan error) {
	t.Helper()
	ln := Listen(t)
	return Port(ln), e.ServeBaseline(t, ln, cfg, insecure)
}

// ServeBaseline is StartBaseline on a listener the test made (to wrap it).
func (e *Env) ServeBaseline(t testing.TB, ln net.Listener, cfg baseline.Config, insecure bool) <-chan error {
	t.Helper()
	cfg.TLS = baseline.NewTLSConfig(e.ServerTLS, e.PKI.CertPool(), insecure)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		done <- baseline.Serve(ctx, ln, cfg)
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(bound):
			t.Error("baseline did not stop")
		}
	})
	return done
}

// StartTlslpd runs the tlslpd daemon in this process on 127.0.0.1 with
// this PKI and the given daemon flags (e.g. "--n_bits", "8") until the
// test ends, and returns its port. See RunTlslpd for the defaults.
func (e *Env) StartTlslpd(t testing.TB, args ...string) int {
	t.Helper()
	return e.RunTlslpd(t, daemon.Hooks{}, args...).Addrs[0].(*net.TCPAddr).Port
}

// Tlslpd is a tlslpd daemon running in this process.
type Tlslpd struct {
	// Addrs are its bound listeners, in the order of the --listen flags.
	Addrs []net.Addr

	t      testing.TB
	cancel context.CancelFunc
	done   <-chan error
	once   sync.Once
}

// RunTlslpd runs the tlslpd daemon in this process with this PKI, the
// given daemon flags and hooks (hooks.Started is testenv's own) until Stop
// or the test's end. It listens on 127.0.0.1:0 unless args say --listen.
// Overload shedding is off (--shed-delay -1s) unless args set it: a test
// machine busy with other tests must not turn a test's load into refused
// connections; tests of shedding ask.
func (e *Env) RunTlslpd(t testing.TB, hooks daemon.Hooks, args ...string) *Tlslpd {
	t.Helper()
	files := e.Files(t)
	base := []string{
		"--server-cert", files.ServerCert, "--server-key", files.ServerKey, "--ca-cert", files.CACert,
		"--status-interval", "0", "--log-level", "ERROR", "--shed-delay", "-1s",
	}
	if !hasFlag(args, "--listen") {
		base = append(base, "--listen", "127.0.0.1:0")
	}
	cfg, err := config.Parse("tlslpd", append(base, args...), nil)
	require.NoError(t, err)
	d, err := daemon.New(cfg, zerolog.Nop())
	require.NoError(t, err)
	started := make(chan *eventloop.Server, 1)
	d.Hooks = hooks
	d.Hooks.Started = func(s *eventloop.Server) { started <- s }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	tl := &Tlslpd{t: t, cancel: cancel, done: done}
	t.Cleanup(tl.Stop)
	select {
	case srv := <-started:
		tl.Addrs = srv.Addrs()
		return tl
	case err := <-done:
		t.Fatalf("tlslpd stopped: %v", err)
	case <-time.After(bound):
		t.Fatal("tlslpd did not start")
	}
	return nil
}

// Stop ends the daemon as SIGTERM would (a drain, then FAIL to the
// sessions left) and waits for Run to return; the test fails if it does
// not within the bound. Later calls do nothing.
func (d *Tlslpd) Stop() {
	d.once.Do(func() {
		d.cancel()
		select {
		case <-d.done:
		case <-time.After(bound):
			d.t.Error("tlslpd did not stop")
		}
	})
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// ClosedPort returns a loopback port that refuses connections.
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln := Listen(t)
	port := Port(ln)
	require.NoError(t, ln.Close())
	return port
}
