package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/loadgen"
	"tlslpd/certs"
	lpclient "tlslpd/client"
	"tlslpd/config"
	"tlslpd/eventloop"
)

// inProcess runs a daemon in this process on 127.0.0.1:0 and returns its
// port and a client TLS config; it stops when the test ends.
func inProcess(t *testing.T, args ...string) (int, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	files, err := pki.Write(filepath.Join(dir, "certificates"), false)
	require.NoError(t, err)
	base := []string{
		"--listen", "127.0.0.1:0", "--server-cert", files.ServerCert, "--server-key", files.ServerKey,
		"--ca-cert", files.CACert, "--status-interval", "0", "--log-level", "ERROR",
	}
	cfg, err := config.Parse("tlslpd", append(base, args...), nil)
	require.NoError(t, err)
	d, err := New(cfg, zerolog.Nop())
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
		case <-time.After(bound):
			t.Error("daemon did not stop")
		}
	})
	var srv *eventloop.Server
	select {
	case srv = <-started:
	case err := <-done:
		t.Fatalf("daemon stopped: %v", err)
	case <-time.After(bound):
		t.Fatal("daemon did not start")
	}
	cc, err := pki.ClientConfig("localhost")
	require.NoError(t, err)
	return srv.Addrs()[0].(*net.TCPAddr).Port, cc
}

func TestClientAgainstTlslpd(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		tutorial bool
	}{
		{"normal mode", []string{"--n_bits", "8"}, false},
		{"tutorial", []string{"--n_bits", "8", "--tutorial"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port, tlsCfg := inProcess(t, tc.args...)
			res, err := lpclient.Run(context.Background(), lpclient.Config{
				Host: "127.0.0.1", Ports: []int{port}, TLS: tlsCfg, Tutorial: tc.tutorial,
				WorkTimeout: bound, OtherTimeout: bound, SolverWorkers: 1,
			})
			// Normal mode may inject FAIL <random_string>: a protocol outcome,
			// not an error of either side.
			var fail *lpclient.ServerFailError
			if errors.As(err, &fail) {
				require.False(t, tc.tutorial, "tutorial mode never injects FAIL")
				assert.True(t, fail.Injected, fail.Line)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 8, res.NBits)
			if tc.tutorial {
				assert.Equal(t, 8, res.BodyRequests)
			} else {
				assert.Equal(t, 20, res.BodyRequests)
			}
		})
	}
}

func TestLoadGeneratorAgainstTlslpd(t *testing.T) {
	port, tlsCfg := inProcess(t, "--n_bits", "4")
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		// The summary reports the difficulty the server sent.
		Host: "127.0.0.1", Port: port, TLS: tlsCfg, Workers: 4, Sessions: 60,
		SourceIPs: 2, WorkTimeout: bound, OtherTimeout: bound,
	})
	require.NoError(t, err)
	c := sum.Counts
	assert.Equal(t, uint64(60), c.Total())
	assert.Equal(t, uint64(60), c.Completed+c.InjectedFail, "every session ends completed or injected: %+v", c)
	assert.Zero(t, c.ServerFail+c.TLSErrors+c.Timeouts+c.ConnectErrors+c.ProtocolErrors)
	assert.Equal(t, 4, sum.NBits)
}

func TestLoadGeneratorParksOnTlslpd(t *testing.T) {
	port, tlsCfg := inProcess(t, "--n_bits", "28", "--work-timeout", "60")
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		Host: "127.0.0.1", Port: port, TLS: tlsCfg, Park: 100, Hold: 300 * time.Millisecond,
		WorkTimeout: bound, OtherTimeout: bound,
	})
	require.NoError(t, err)
	require.NotNil(t, sum.Park)
	assert.Equal(t, 100, sum.Park.Parked)
	assert.Zero(t, sum.Park.Dropped)
}
