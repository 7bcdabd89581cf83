package loadgen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/internal/testenv"
	"tlslpd/internal/testlog"
)

func TestMainFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus"}, "bogus"},
		{"two modes", []string{"--workers", "2", "--rate", "5"}, "exclusive"},
		{"negative sessions", []string{"--sessions", "-1"}, "--sessions -1: must not be negative"},
		{"negative rate", []string{"--rate", "-5"}, "--rate -5: must not be negative"},
		{"out and report one file", []string{"--out", "run.x", "--report", "./run.x"}, "--out and --report both name run.x"},
		{"negative identities", []string{"--identities", "-1"}, "--identities -1: must not be negative"},
		{"zero max-inflight", []string{"--rate", "5", "--max-inflight", "0"}, "--max-inflight 0: must be positive"},
		{"bad duration", []string{"--duration", "soon"}, "duration"},
		{"negative grace", []string{"--grace", "-1s"}, "grace"},
		{"bad resumption", []string{"--resumption=maybe"}, "resumption"},
		{"zero hold", []string{"--park", "5", "--hold", "0s"}, "hold"},
		{"port range", []string{"--port", "0"}, "port"},
		{"n-bits did nothing and is gone", []string{"--n-bits", "8"}, "n-bits"},
		{"bad timeout", []string{"--other-timeout", "0"}, "other-timeout"},
		{"bad threshold", []string{"--threshold", "p99<fast"}, "not a duration"},
		{"tiny interval", []string{"--interval", "10us"}, "interval"},
		{"positional", []string{"now"}, "now"},
		{"insecure off loopback", []string{"--insecure", "--host", "example.com"}, "non-loopback"},
		{"max-inflight in the closed model", []string{"--workers", "4", "--max-inflight", "10"}, "--max-inflight does nothing here"},
		{"hold without park", []string{"--hold", "5s"}, "--hold does nothing here"},
		{"grace without duration", []string{"--sessions", "5", "--grace", "1s"}, "--grace does nothing here"},
		{"duration in park mode", []string{"--park", "5", "--duration", "1s"}, "--duration does nothing here"},
		{"plain with a TLS flag", []string{"--plain", "--resumption", "on"}, "--plain uses no TLS"},
		{"plain with a TLS threshold", []string{"--plain", "--threshold", "tls.p90<5ms"}, "--threshold tls.p90<5ms: plain TCP (--plain) has no TLS handshake to measure"},
		{"source-ips off loopback", []string{"--host", "example.com", "--source-ips", "4"}, "IPv4 loopback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, ExitUsage, Main(tc.args, &out, &errb))
			assert.Empty(t, out.String())
			assert.Equal(t, 1, strings.Count(errb.String(), "\n"), errb.String())
			assert.Contains(t, errb.String(), tc.want)
		})
	}
}

// cliTarget is a server and the flags that reach it, with a step timeout
// generous enough that a loaded machine under -race makes sessions slow,
// not timed out.
func cliTarget(t *testing.T, env *testenv.Env, port int) []string {
	files := env.Files(t)
	return []string{"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--client-cert", files.ClientCert,
		"--private-key", files.ClientKey, "--ca-cert", files.CACert, "--other-timeout", strconv.Itoa(int(stepBound.Seconds()))}
}

func TestMainOutputs(t *testing.T) {
	env := testenv.New(t)
	dir := t.TempDir()
	port, _ := startBaseline(t, env, baseline.Config{NBits: 4, Inject: baseline.InjectNever})
	common := cliTarget(t, env, port)

	t.Run("json", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"--workers", "2", "--sessions", "12", "--json", "--resumption", "on", "--quiet"}, common...), &out, &errb)
		require.Equal(t, ExitOK, code, errb.String())
		var got map[string]any
		require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
		for _, k := range []string{"schema_version", "version", "host", "start_time", "generators", "mode", "sessions",
			"started_per_s", "counts", "errors", "latency", "phases", "intervals", "spectrum", "warnings"} {
			assert.Contains(t, got, k)
		}
		var sum Summary
		require.NoError(t, json.Unmarshal(out.Bytes(), &sum))
		assert.Equal(t, SchemaVersion, sum.SchemaVersion)
		assert.NotEmpty(t, sum.Version)
		assert.NotEmpty(t, sum.Host)
		assert.WithinDuration(t, time.Now(), sum.StartTime, time.Minute)
		require.Len(t, sum.Generators, 1)
		g := sum.Generators[0]
		assert.Equal(t, "2", g.Flags["workers"], "the flags are in the JSON")
		assert.Equal(t, "on", g.Flags["resumption"])
		assert.Contains(t, g.Args, "--sessions")
		assert.Equal(t, uint64(12), sum.Counts.Completed)
		assert.Equal(t, uint64(12), sum.Started)
		assert.True(t, sum.Resumption)
		assert.Positive(t, sum.Resumed, "later sessions resume")
		assert.Equal(t, 4, sum.NBits, "the difficulty the server sent")
		require.Len(t, sum.Phases, int(numPhases), "every phase of a completed session is measured")
		for _, p := range sum.Phases {
			assert.Equal(t, uint64(12), p.Latency.Count, p.Phase)
		}
	})

	t.Run("text and report", func(t *testing.T) {
		report := filepath.Join(dir, "report.html")
		var out, errb bytes.Buffer
		// --grace lets every session of the window finish on a slow machine.
		code := Main(append([]string{"--rate", "50", "--duration", "500ms", "--grace", stepBound.String(), "--report", report, "--quiet"}, common...), &out, &errb)
		require.Equal(t, ExitOK, code, errb.String())
		text := out.String()
		assert.Contains(t, text, "offered rate 50.0/s")
		assert.Contains(t, text, "25 started")
		assert.Regexp(t, `completed +25 +100%`, text)
		assert.Contains(t, text, "p99.9")
		assert.Contains(t, text, "TLS handshake")
		assert.NotRegexp(t, `\de[+-]\d`, text, "no exponents")
		assert.Equal(t, "tlslpd bench load: wrote report to "+report+"\n", errb.String(), "--quiet: no progress; the report's path is said")
		data, err := os.ReadFile(report)
		require.NoError(t, err)
		assert.Contains(t, string(data), `<svg id="throughput"`)
	})

	t.Run("output paths are checked before the run", func(t *testing.T) {
		var out, errb bytes.Buffer
		start := time.Now()
		code := Main(append([]string{"--duration", "1h", "--report", filepath.Join(dir, "missing", "x.html")}, common...), &out, &errb)
		assert.Equal(t, ExitFailed, code)
		assert.Less(t, time.Since(start), 30*time.Second, "fails before the hour-long run")
		assert.Contains(t, errb.String(), "--report")
		assert.Empty(t, out.String())
		code = Main(append([]string{"--duration", "1h", "--out", filepath.Join(dir, "missing", "x.hlog")}, common...), &out, &errb)
		assert.Equal(t, ExitFailed, code)
		assert.Contains(t, errb.String(), "--out")
	})

	t.Run("nothing succeeds", func(t *testing.T) {
		var out, errb bytes.Buffer
		args := cliTarget(t, env, testenv.ClosedPort(t))
		code := Main(append([]string{"--workers", "1", "--sessions", "3", "--quiet"}, args...), &out, &errb)
		assert.Equal(t, ExitFailed, code)
		assert.Regexp(t, `connect error +3 +100%`, out.String())
		assert.Contains(t, out.String(), "connect error: dial tcp: connect: connection refused", "one normalized message")
		assert.Contains(t, errb.String(), "no session succeeded")
	})

	t.Run("missing certificates", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := Main([]string{"--ca-cert", filepath.Join(dir, "nope.pem"), "--sessions", "1"}, &out, &errb)
		assert.Equal(t, ExitFailed, code)
		assert.Equal(t, 1, strings.Count(errb.String(), "\n"))
		assert.Contains(t, errb.String(), "nope.pem")
	})
}

func TestMainThresholdExitCodes(t *testing.T) {
	env := testenv.New(t)
	port := startTlslpd(t, env, "--n_bits", "4")
	// tlslpd injects FAIL in about 90% of sessions: 200 leave some completed.
	common := append(cliTarget(t, env, port), "--workers", "2", "--sessions", "200", "--quiet")
	tests := []struct {
		name       string
		thresholds []string
		code       int
		lines      []string
	}{
		{"all hold", []string{"p99<1h", "errors<0.1%", "unfinished<1", "tls.p90<1h", "completed>0"}, ExitOK,
			[]string{"threshold p99<1h: ok", "threshold errors<0.1%: ok (errors 0% (0 of 200 sessions))", "threshold tls.p90<1h: ok", "threshold completed>0: ok"}},
		{"latency violated", []string{"p99<1h", "p50<1us"}, ExitThreshold, []string{"threshold p99<1h: ok", "threshold p50<1us: VIOLATED (p50 of completed sessions"}},
		{"rate violated", []string{"rate>1000000"}, ExitThreshold, []string{"threshold rate>1000000: VIOLATED (completed "}},
		{"count violated", []string{"injected<5"}, ExitThreshold, []string{"threshold injected<5: VIOLATED (injected "}},
		{"share violated", []string{"completed>=50%"}, ExitThreshold, []string{"threshold completed>=50%: VIOLATED (completed "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{}, common...)
			for _, th := range tc.thresholds {
				args = append(args, "--threshold", th)
			}
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, Main(args, &out, &errb), errb.String())
			for _, l := range tc.lines {
				assert.Contains(t, out.String(), l)
			}
		})
	}
}

// TestMainDurationBoundsSlowWork: against an in-process tlslpd whose WORK
// takes far longer to solve than the run, --duration and --grace end the
// run anyway, the sessions count as unfinished while solving, the summary
// says why, and the status lines a pipe gets say what is in flight.
func TestMainDurationBoundsSlowWork(t *testing.T) {
	env := testenv.New(t)
	port := startTlslpd(t, env, "--n_bits", "40", "--work-timeout", "600")
	progress := &testlog.Buffer{}
	var out bytes.Buffer
	start := time.Now()
	// The grace is long enough for both sessions to get through the
	// handshake to WORK on a loaded machine, and far too short to solve it.
	code := Main(append(cliTarget(t, env, port), "--workers", "2", "--duration", "300ms", "--grace", "5s",
		"--progress-interval", "100ms", "--work-timeout", "600"), &out, progress)
	elapsed := time.Since(start)
	assert.Equal(t, ExitFailed, code, "nothing completed")
	// 2^40 hashes would take hours; the run ends at duration + grace.
	assert.Less(t, elapsed, 30*time.Second)
	text := out.String()
	assert.Regexp(t, `unfinished +2 +100%`, text)
	assert.Contains(t, text, "2 sessions were still running when the run ended and count as unfinished (2 in WORK solve (this client))")
	assert.Contains(t, text, "n_bits 40 (as the server sent it)")
	assert.Contains(t, text, "(sessions started for 0.300s)", "the load window is --duration, however long the cut sessions ran")
	assert.Contains(t, text, "warning: WORK solving on the load generator, not the server, limited this run", "the partial solving counts")
	assert.Contains(t, text, "n_bits 40 takes about 1100G hashes")
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 2, progress.String())
	assert.Contains(t, lines[0], "tlslpd bench load: ", "piped: whole lines, no carriage returns")
	assert.NotContains(t, progress.String(), "\r")
	assert.Contains(t, progress.String(), "in flight 2 (solve 2)")
}

func TestMainSummaryOnSIGTERM(t *testing.T) {
	env := testenv.New(t)
	port := startTlslpd(t, env, "--n_bits", "4")
	progress := &testlog.Buffer{}
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(append(cliTarget(t, env, port), "--workers", "2", "--duration", "1h", "--progress-interval", "50ms"), &out, progress)
	}()
	// Progress lines come after the signal handler is in place; wait for
	// one that has seen a completed session.
	completed := regexp.MustCompile(`completed [1-9]`)
	require.Eventually(t, func() bool { return completed.MatchString(progress.String()) }, stepBound, 10*time.Millisecond)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case code := <-done:
		assert.Equal(t, ExitOK, code, progress.String())
	case <-time.After(stepBound):
		t.Fatal("SIGTERM did not end the run")
	}
	assert.Contains(t, out.String(), "outcomes of ")
	assert.Regexp(t, `completed +\d+`, out.String())
}
