package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/certs"
)

type testEnv struct {
	pki       *certs.PKI
	serverTLS tls.Certificate
	clientTLS *tls.Config
	anonTLS   *tls.Config
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

// sourceRecorder remembers the source IPs of accepted connections.
type sourceRecorder struct {
	net.Listener
	mu  sync.Mutex
	ips map[string]int
}

func (s *sourceRecorder) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err == nil {
		s.mu.Lock()
		s.ips[c.RemoteAddr().(*net.TCPAddr).IP.String()]++
		s.mu.Unlock()
	}
	return c, err
}

func (s *sourceRecorder) sources() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.ips {
		out[k] = v
	}
	return out
}

func startBaseline(t *testing.T, env *testEnv, cfg baseline.Config) (int, *sourceRecorder) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rec := &sourceRecorder{Listener: ln, ips: map[string]int{}}
	cfg.TLS = baseline.NewTLSConfig(env.serverTLS, env.pki.CertPool(), false)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = baseline.Serve(ctx, rec, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("baseline did not stop")
		}
	})
	return ln.Addr().(*net.TCPAddr).Port, rec
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// syncWriter lets the progress goroutine and the test share a buffer.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func itoa(n int) string { return strconv.Itoa(n) }
