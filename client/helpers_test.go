package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/certs"
)

type testEnv struct {
	pki       *certs.PKI
	serverTLS tls.Certificate
	clientTLS *tls.Config // mTLS
	anonTLS   *tls.Config // no client certificate
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	srv, err := pki.Server.TLS()
	require.NoError(t, err)
	cli, err := pki.ClientConfig("")
	require.NoError(t, err)
	return &testEnv{
		pki:       pki,
		serverTLS: srv,
		clientTLS: cli,
		anonTLS:   &tls.Config{RootCAs: pki.CertPool()},
	}
}

// startBaseline serves cfg on an ephemeral loopback port until the test
// ends and returns the port and a channel closed when Serve returned.
func startBaseline(t *testing.T, env *testEnv, cfg baseline.Config, insecure bool) (int, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.TLS = baseline.NewTLSConfig(env.serverTLS, env.pki.CertPool(), insecure)
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
		case <-time.After(10 * time.Second):
			t.Error("baseline did not stop")
		}
	})
	return ln.Addr().(*net.TCPAddr).Port, done
}

// startFake runs script on the first TLS connection (mTLS not required) and
// returns the port.
func startFake(t *testing.T, env *testEnv, script func(c *tls.Conn, r *bufio.Reader)) int {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{env.serverTLS}})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		script(c.(*tls.Conn), bufio.NewReader(c))
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort returns a loopback port that refuses connections.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

func itoa(n int) string { return strconv.Itoa(n) }
