package testenv

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
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

// stopBound is how long a server may take to stop when its test ends.
const stopBound = 10 * time.Second

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
		case <-time.After(stopBound):
			t.Error("baseline did not stop")
		}
	})
	return done
}

// StartTlslpd runs the tlslpd daemon in this process on 127.0.0.1 with
// this PKI and the given daemon flags (e.g. "--n_bits", "8") until the
// test ends, and returns its port. Overload shedding is off (--shed-delay
// -1s) unless args set it: a test machine busy with other tests must not
// turn a test's load into refused connections; tests of shedding ask.
func (e *Env) StartTlslpd(t testing.TB, args ...string) int {
	t.Helper()
	files := e.Files(t)
	base := []string{
		"--listen", "127.0.0.1:0", "--server-cert", files.ServerCert, "--server-key", files.ServerKey,
		"--ca-cert", files.CACert, "--status-interval", "0", "--log-level", "ERROR", "--shed-delay", "-1s",
	}
	cfg, err := config.Parse("tlslpd", append(base, args...), nil)
	require.NoError(t, err)
	d, err := daemon.New(cfg, zerolog.Nop())
	require.NoError(t, err)
	started := make(chan *eventloop.Server, 1)
	d.Hooks.Started = func(s *eventloop.Server) { started <- s }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(stopBound):
			t.Error("tlslpd did not stop")
		}
	})
	select {
	case srv := <-started:
		return srv.Addrs()[0].(*net.TCPAddr).Port
	case err := <-done:
		t.Fatalf("tlslpd stopped: %v", err)
	case <-time.After(stopBound):
		t.Fatal("tlslpd did not start")
	}
	return 0
}

// ClosedPort returns a loopback port that refuses connections.
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln := Listen(t)
	port := Port(ln)
	require.NoError(t, ln.Close())
	return port
}
