package suite

import (
	"bytes"
	"context"
	"crypto/tls"
	"go/build"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/bench/leanclient"
	"tlslpd/bench/loadgen"
	"tlslpd/certs"
)

func TestParseSections(t *testing.T) {
	tests := []struct {
		in        string
		want      []string
		wantError string
	}{
		{"sessions,park", []string{"sessions", "park"}, ""},
		{" pow , timers ,", []string{"pow", "timers"}, ""},
		{"transports", []string{"transports"}, ""},
		{"sessions,bogus", nil, "unknown section"},
		{",", nil, "no section"},
	}
	for _, tc := range tests {
		got, err := parseSections(tc.in)
		if tc.wantError != "" {
			require.Error(t, err, tc.in)
			assert.Contains(t, err.Error(), tc.wantError)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Len(t, got, len(tc.want))
		for _, s := range tc.want {
			assert.True(t, got[s], s)
		}
	}
}

func TestMainFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		main func([]string, *bytes.Buffer, *bytes.Buffer) int
		args []string
		code int
		msg  string
	}{
		{"suite bogus flag", suiteMain, []string{"--bogus"}, 2, "flag provided but not defined"},
		{"suite bad section", suiteMain, []string{"--only", "x"}, 2, "unknown section"},
		{"suite zero workers", suiteMain, []string{"--workers", "0"}, 2, "must be positive"},
		{"suite zero transport workers", suiteMain, []string{"--transport-workers", "0"}, 2, "must be positive"},
		{"suite zero transport rounds", suiteMain, []string{"--transport-rounds", "0"}, 2, "must be positive"},
		{"suite stray arg", suiteMain, []string{"now"}, 2, "unexpected argument"},
		{"suite help", suiteMain, []string{"--help"}, 0, ""},
		{"baseline bad inject", baselineMain, []string{"--inject", "sometimes"}, 2, "want reference or never"},
		{"baseline non-loopback", baselineMain, []string{"--host", "192.0.2.1", "--port", "1"}, 1, "loopback only"},
		{"baseline missing cert", baselineMain, []string{"--port", "1", "--server-cert", "/nonexistent"}, 1, "load server key pair"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, tc.main(tc.args, &out, &errb))
			assert.Contains(t, errb.String(), tc.msg)
		})
	}
}

func suiteMain(a []string, o, e *bytes.Buffer) int    { return Main(a, o, e) }
func baselineMain(a []string, o, e *bytes.Buffer) int { return BaselineMain(a, o, e) }

// TestNoServerImports keeps the suite to bench/doc.go's rule: it measures
// the server from outside, as a process, and shares none of its code.
func TestNoServerImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	require.NoError(t, err)
	for _, imp := range append(pkg.Imports, pkg.TestImports...) {
		for _, f := range []string{"tlslpd/eventloop", "tlslpd/statemachine", "tlslpd/tlsbridge", "tlslpd/codec", "tlslpd/daemon", "tlslpd/metrics"} {
			assert.False(t, imp == f || strings.HasPrefix(imp, f+"/"), "suite imports %s", imp)
		}
	}
}

// pkiFiles writes a fresh PKI and returns its files and a client config.
func pkiFiles(t *testing.T) (certs.Files, *certs.PKI, *tls.Config) {
	t.Helper()
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	files, err := pki.Write(t.TempDir(), false)
	require.NoError(t, err)
	cc, err := pki.ClientConfig("127.0.0.1")
	require.NoError(t, err)
	return files, pki, cc
}

func TestHandshakeLoadAgainstBaseline(t *testing.T) {
	_, pki, client := pkiFiles(t)
	sc, err := pki.Server.TLS()
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- baseline.Serve(ctx, ln, baseline.Config{TLS: baseline.NewTLSConfig(sc, pki.CertPool(), false), NBits: 4, OtherTimeout: 5 * time.Second})
	}()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	h := handshakeLoad{host: "127.0.0.1", port: ln.Addr().(*net.TCPAddr).Port, tls: client, workers: 2,
		duration: 200 * time.Millisecond, timeout: 5 * time.Second}
	got := h.run(context.Background())
	assert.Positive(t, got.OK)
	assert.Zero(t, got.Errors, got.ErrSample)

	// Without a client certificate the server refuses: every try is an error.
	anon := client.Clone()
	anon.Certificates = nil
	h.tls, h.duration = anon, 100*time.Millisecond
	got = h.run(context.Background())
	assert.Zero(t, got.OK)
	assert.Positive(t, got.Errors)
	assert.NotEmpty(t, got.ErrSample)
}

func TestServeBaselineWithMetrics(t *testing.T) {
	files, _, client := pkiFiles(t)
	port, err := freePort()
	require.NoError(t, err)
	mport, err := freePort()
	require.NoError(t, err)
	maddr := net.JoinHostPort("127.0.0.1", itoa(mport))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveBaseline(ctx, baseline.Config{NBits: 4, Token: "T"}, "127.0.0.1", port, files.ServerCert, files.ServerKey, files.CACert, false, false, maddr)
	}()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Eventually(t, func() bool {
		_, err := Goroutines(ctx, newScrapeClient(), maddr)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	h := handshakeLoad{host: "127.0.0.1", port: port, tls: client, workers: 1, duration: 50 * time.Millisecond, timeout: 5 * time.Second}
	got := h.run(ctx)
	assert.Positive(t, got.OK)
	g, err := Goroutines(ctx, newScrapeClient(), maddr)
	require.NoError(t, err)
	assert.Positive(t, g)
}

// The plain baseline needs no certificate files: it serves sessions over
// plain TCP with none.
func TestServeBaselinePlain(t *testing.T) {
	port, err := freePort()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveBaseline(ctx, baseline.Config{Plain: true, NBits: 4, Inject: baseline.InjectNever}, "127.0.0.1", port, "/nonexistent", "/nonexistent", "/nonexistent", false, false, "")
	}()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	addr := net.JoinHostPort("127.0.0.1", itoa(port))
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	res, err := leanclient.Run(ctx, leanclient.Config{Addr: addr, Workers: 2, Sessions: 10})
	require.NoError(t, err)
	assert.EqualValues(t, 10, res.Completed, res.ErrSample)
}

func TestChildStopKillsAndReaps(t *testing.T) {
	sleepBin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	c, err := startChild("sleeper", []string{sleepBin, "30"}, t.TempDir())
	require.NoError(t, err)
	assert.False(t, c.exited())
	start := time.Now()
	c.stop(2 * time.Second)
	assert.True(t, c.exited())
	assert.Less(t, time.Since(start), 2*time.Second, "SIGTERM should end sleep at once")

	// A child that exits early is reported by waitListening with its log.
	c, err = startChild("quitter", []string{sleepBin, "0"}, t.TempDir())
	require.NoError(t, err)
	err = c.waitListening(context.Background(), 2*time.Second, "127.0.0.1:1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "quitter exited")
	c.stop(time.Second)
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestErrorSample(t *testing.T) {
	tests := []struct {
		name string
		sum  loadgen.Summary
		want string
	}{
		{"only injected", loadgen.Summary{FailLines: map[string]uint64{"FAIL LGTk": 9}}, ""},
		{"server fail", loadgen.Summary{FailLines: map[string]uint64{"FAIL LGTk": 9, "FAIL Invalid checksum received.": 1}}, "FAIL Invalid checksum received."},
		{"transport error", loadgen.Summary{Errors: []loadgen.ErrorCount{{Outcome: "TLS error", Message: "bad certificate", Count: 2}}}, "TLS error: bad certificate"},
		{"nothing", loadgen.Summary{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, errorSample(tc.sum))
		})
	}
}
