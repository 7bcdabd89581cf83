package loadgen

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/internal/testenv"
	"tlslpd/internal/testlog"
	"tlslpd/protocol"
)

// stepBound bounds every step of a session in these tests: generous, so a
// session on a loaded machine under -race is slow rather than a timeout.
const stepBound = time.Minute

func baseConfig(env *testenv.Env, port int) Config {
	return Config{
		Host: "127.0.0.1", Port: port, TLS: env.ClientTLS,
		OtherTimeout: stepBound, WorkTimeout: stepBound,
		SourceIPs: 4,
	}
}

func sumIntervals(s Summary) (completed, failed uint64) {
	for _, iv := range s.Intervals {
		completed += iv.Completed
		failed += iv.Failed + iv.Injected
	}
	return completed, failed
}

// errorsOf joins the error messages counted under outcome.
func errorsOf(s Summary, outcome string) string {
	var msgs []string
	for _, e := range s.Errors {
		if e.Outcome == outcome {
			msgs = append(msgs, e.Message)
		}
	}
	return strings.Join(msgs, "; ")
}

func TestRunClosed(t *testing.T) {
	env := testenv.New(t)
	port, rec := startBaseline(t, env, baseline.Config{NBits: 6, Inject: baseline.InjectNever})
	cfg := baseConfig(env, port)
	cfg.Workers, cfg.Sessions = 4, 100
	sum, err := Run(context.Background(), cfg)
	require.NoError(t, err)

	assert.Equal(t, "closed", sum.Mode)
	assert.Equal(t, uint64(100), sum.Sessions)
	assert.Equal(t, uint64(100), sum.Counts.Completed)
	assert.Equal(t, sum.Sessions, sum.Counts.Total())
	assert.Equal(t, uint64(100), sum.Latency.Count)
	assert.Empty(t, sum.FailLines)
	c, f := sumIntervals(sum)
	assert.Equal(t, uint64(100), c)
	assert.Zero(t, f)
	assert.Positive(t, sum.SessionsPerSecond)
	assert.LessOrEqual(t, sum.Latency.P50, sum.Latency.P99)
	assert.LessOrEqual(t, sum.Latency.P99, sum.Latency.Max)
	assert.LessOrEqual(t, sum.Latency.Min, sum.Latency.P50)
	assert.Equal(t, 4, sum.SourceIPs)
	srcs := rec.sources()
	assert.Len(t, srcs, 4, "one source address per worker: %v", srcs)
	for ip := range srcs {
		assert.True(t, strings.HasPrefix(ip, "127.0.0."), ip)
	}
}

func TestRunOutcomes(t *testing.T) {
	env := testenv.New(t)
	tests := []struct {
		name   string
		server *baseline.Config // nil: nothing listening
		client func(c *Config)
		check  func(t *testing.T, s Summary)
	}{
		{
			name:   "reference injection",
			server: &baseline.Config{NBits: 4, RandomString: "rnd"},
			check: func(t *testing.T, s Summary) {
				assert.Equal(t, uint64(30), s.Counts.Completed+s.Counts.InjectedFail)
				assert.Equal(t, s.Counts.InjectedFail, s.FailLines["FAIL rnd"])
				assert.Equal(t, s.Counts.Completed, s.Latency.Count)
			},
		},
		{
			name:   "always injected",
			server: &baseline.Config{NBits: 4, Inject: baseline.InjectAlways},
			check: func(t *testing.T, s Summary) {
				assert.Equal(t, uint64(30), s.Counts.InjectedFail)
				assert.Equal(t, map[string]uint64{"FAIL " + protocol.DefaultRandomString: 30}, s.FailLines)
				_, f := sumIntervals(s)
				assert.Equal(t, uint64(30), f)
				var injected, failed uint64
				for _, iv := range s.Intervals {
					injected += iv.Injected
					failed += iv.Failed
				}
				assert.Equal(t, uint64(30), injected, "injected FAILs are their own series")
				assert.Zero(t, failed, "an injected FAIL is not a failure")
			},
		},
		{
			name:   "no client certificate",
			server: &baseline.Config{NBits: 4, Inject: baseline.InjectNever},
			client: func(c *Config) { c.TLS = env.AnonTLS },
			check: func(t *testing.T, s Summary) {
				assert.Equal(t, uint64(30), s.Counts.TLSErrors)
				assert.Contains(t, errorsOf(s, "TLS error"), "certificate")
				_, f := sumIntervals(s)
				assert.Equal(t, uint64(30), f)
			},
		},
		{
			name:   "server certificate from another CA",
			server: &baseline.Config{NBits: 4, Inject: baseline.InjectNever},
			client: func(c *Config) {
				other := testenv.New(t)
				c.TLS = c.TLS.Clone()
				c.TLS.RootCAs = other.PKI.CertPool()
			},
			check: func(t *testing.T, s Summary) {
				assert.Equal(t, uint64(30), s.Counts.TLSErrors)
				assert.Contains(t, errorsOf(s, "TLS error"), "unknown authority")
			},
		},
		{
			name:   "server certificate for another name",
			server: &baseline.Config{NBits: 4, Inject: baseline.InjectNever},
			client: func(c *Config) {
				c.TLS = c.TLS.Clone()
				c.TLS.ServerName = "elsewhere.example"
			},
			check: func(t *testing.T, s Summary) {
				assert.Equal(t, uint64(30), s.Counts.TLSErrors)
				assert.Contains(t, errorsOf(s, "TLS error"), "elsewhere.example")
			},
		},
		{
			name:   "server times out the work step",
			server: &baseline.Config{NBits: 4, WorkTimeout: time.Nanosecond, Inject: baseline.InjectNever},
			check: func(t *testing.T, s Summary) {
				// The suffix may or may not beat a 1ns deadline; either way
				// the line must be counted as a server FAIL, not injected.
				assert.Equal(t, uint64(30), s.Counts.ServerFail+s.Counts.Completed+s.Counts.ProtocolErrors)
				assert.Zero(t, s.Counts.InjectedFail)
			},
		},
		{
			name: "nothing listening",
			check: func(t *testing.T, s Summary) {
				assert.Equal(t, uint64(30), s.Counts.ConnectErrors)
				assert.Contains(t, errorsOf(s, "connect error"), "refused")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var port int
			if tc.server != nil {
				port, _ = startBaseline(t, env, *tc.server)
			} else {
				port = testenv.ClosedPort(t)
			}
			cfg := baseConfig(env, port)
			cfg.Workers, cfg.Sessions = 3, 30
			if tc.client != nil {
				tc.client(&cfg)
			}
			sum, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			assert.Equal(t, uint64(30), sum.Sessions)
			assert.Equal(t, sum.Sessions, sum.Counts.Total())
			tc.check(t, sum)
		})
	}
}

func TestRunOpen(t *testing.T) {
	env := testenv.New(t)
	port, _ := startBaseline(t, env, baseline.Config{NBits: 4, Inject: baseline.InjectNever})
	cfg := baseConfig(env, port)
	// Grace lets every session started in the window finish, however slow
	// the machine: the counts below are exact.
	cfg.Rate, cfg.Duration, cfg.Grace = 20, time.Second, stepBound
	sum, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, "open", sum.Mode)
	// Arrivals are scheduled at i/rate for i/rate < duration: exactly 20.
	assert.Equal(t, uint64(20), sum.Sessions)
	assert.Equal(t, uint64(20), sum.Counts.Completed)
	assert.GreaterOrEqual(t, sum.DurationSeconds, 0.95)
}

func TestRunOpenCountsQueueing(t *testing.T) {
	env := testenv.New(t)
	// n_bits 16 makes each session take several ms, far longer than the
	// 1 ms between arrivals.
	port, _ := startBaseline(t, env, baseline.Config{NBits: 16, Inject: baseline.InjectNever})
	cfg := baseConfig(env, port)
	// 10 arrivals within 10 ms but only one session at a time: the last
	// one waits for the nine before it, and that wait must be in its
	// latency, so max latency is most of the run.
	cfg.Rate, cfg.Sessions, cfg.MaxInflight = 1000, 10, 1
	sum, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, uint64(10), sum.Counts.Completed)
	runMs := sum.DurationSeconds * 1000
	assert.Greater(t, sum.Latency.Max, 0.5*runMs, "max %.1fms, run %.1fms", sum.Latency.Max, runMs)
	assert.Contains(t, strings.Join(sum.Warnings, "\n"), "the offered rate was not reached")
}

func TestRunOpenArrivalsLateForTheWindowNeverStart(t *testing.T) {
	env := testenv.New(t)
	port, _ := startBaseline(t, env, baseline.Config{NBits: 16, Inject: baseline.InjectNever})
	cfg := baseConfig(env, port)
	// 100 arrivals due in 100 ms, one slot, sessions of several ms: most
	// arrivals are still waiting for the slot when the window ends.
	cfg.Rate, cfg.Duration, cfg.MaxInflight = 1000, 100*time.Millisecond, 1
	sum, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Less(t, sum.Started, uint64(100))
	assert.Equal(t, sum.Started, sum.Counts.Total(), "every started session is accounted for")
	assert.InDelta(t, 0.1, sum.LoadSeconds, 0.001, "the window is --duration")
	assert.Contains(t, strings.Join(sum.Warnings, "\n"), "the offered rate was not reached: offered 1000.0/s")
}

// --plain drives a tlslpd tcp:// listener: sessions complete with no TLS
// handshake phase in the summary, and park mode holds plain connections.
func TestRunPlain(t *testing.T) {
	env := testenv.New(t)
	port := startTlslpd(t, env, "--listen", "tcp://127.0.0.1:0", "--n_bits", "4")
	cfg := baseConfig(env, port)
	cfg.TLS, cfg.Plain = nil, true
	cfg.Workers, cfg.Sessions = 2, 40
	sum, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, uint64(40), sum.Counts.Total())
	assert.Zero(t, sum.Counts.Errors(), "errors: %v", sum.Errors)
	assert.Equal(t, uint64(40), sum.Counts.Completed+sum.Counts.InjectedFail)
	assert.True(t, sum.Plain)
	var phases []string
	for _, p := range sum.Phases {
		phases = append(phases, p.Phase)
	}
	assert.Contains(t, phases, "hello")
	assert.NotContains(t, phases, "tls", "plain TCP has no TLS handshake")
	var text bytes.Buffer
	require.NoError(t, sum.WriteText(&text))
	assert.Contains(t, text.String(), "plain TCP (no TLS)")
	assert.NotContains(t, text.String(), "TLS handshake")

	cfg = baseConfig(env, port)
	cfg.TLS, cfg.Plain = nil, true
	cfg.Park, cfg.Hold, cfg.ParkDialers = 10, 100*time.Millisecond, 2
	sum, err = Run(context.Background(), cfg)
	require.NoError(t, err)
	require.NotNil(t, sum.Park)
	assert.Equal(t, 10, sum.Park.Parked)

	cfg.Resumption = true
	_, err = Run(context.Background(), cfg)
	require.ErrorIs(t, err, ErrConfig)

	// Without --plain, the plain listener's answer says what to add.
	cfg = baseConfig(env, port)
	cfg.Workers, cfg.Sessions = 1, 3
	sum, err = Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), sum.Counts.TLSErrors)
	assert.Contains(t, errorsOf(sum, "TLS error"), "a plain tcp:// listener takes --plain")
}

func TestRunPark(t *testing.T) {
	env := testenv.New(t)
	tests := []struct {
		name        string
		server      baseline.Config
		hold        time.Duration
		wantDropped int
	}{
		{"held", baseline.Config{NBits: 20}, 300 * time.Millisecond, 0},
		{"server drops at its work timeout", baseline.Config{NBits: 20, WorkTimeout: 100 * time.Millisecond}, 2 * time.Second, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port, _ := startBaseline(t, env, tc.server)
			var notices bytes.Buffer
			cfg := baseConfig(env, port)
			cfg.Park, cfg.Hold, cfg.Notices = 50, tc.hold, &notices
			cfg.ParkDialers = 4 // at most 4 opening at once: the peak of 50 is the held ones
			var calls [][2]int
			var parkedAt time.Time
			cfg.OnParked = func(parked, requested int) {
				calls = append(calls, [2]int{parked, requested})
				parkedAt = time.Now()
			}
			start := time.Now()
			sum, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			assert.Equal(t, [][2]int{{50, 50}}, calls, "OnParked once, with the counts")
			assert.GreaterOrEqual(t, time.Since(parkedAt), tc.hold, "OnParked comes before the hold")
			require.NotNil(t, sum.Park)
			assert.Equal(t, "park", sum.Mode)
			assert.Equal(t, 50, sum.Park.Requested)
			assert.Equal(t, 50, sum.Park.Parked)
			assert.Equal(t, tc.wantDropped, sum.Park.Dropped)
			assert.GreaterOrEqual(t, sum.PeakInflight, int64(50), "parked sessions are in flight while held")
			assert.Zero(t, sum.Counts.Total(), "no park failures")
			assert.GreaterOrEqual(t, time.Since(start), tc.hold)
			assert.Contains(t, notices.String(), "parked 50 of 50")
		})
	}
}

func TestRunCapsAtNofile(t *testing.T) {
	env := testenv.New(t)
	port, _ := startBaseline(t, env, baseline.Config{NBits: 4, Inject: baseline.InjectNever})
	var notices bytes.Buffer
	cfg := baseConfig(env, port)
	cfg.Workers, cfg.Sessions, cfg.Nofile, cfg.Notices = 500, 20, 300, &notices
	sum, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.True(t, sum.Capped)
	assert.Equal(t, 500, sum.RequestedConcurrency)
	assert.Equal(t, 300-64-30, sum.Concurrency)
	assert.Equal(t, uint64(20), sum.Counts.Completed)
	assert.Equal(t, 1, strings.Count(notices.String(), "\n"))
	assert.Contains(t, notices.String(), "capped to 206")
}

func TestRunCancelled(t *testing.T) {
	env := testenv.New(t)
	port, _ := startBaseline(t, env, baseline.Config{NBits: 4, Inject: baseline.InjectNever})
	cfg := baseConfig(env, port)
	cfg.Workers, cfg.Duration = 2, time.Hour
	progress := &testlog.Buffer{}
	cfg.Progress, cfg.ProgressInterval = progress, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once a progress line has counted a completed session (on a
	// loaded machine that may take a while), never on a fixed clock.
	var cancelledAt atomic.Int64
	go func() {
		completed := regexp.MustCompile(`completed [1-9]`)
		bound := time.NewTimer(stepBound)
		defer bound.Stop()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for !completed.MatchString(progress.String()) {
			select {
			case <-tick.C:
			case <-ctx.Done(): // the test is over (Run returned uncancelled)
				return
			case <-bound.C: // cancel anyway: the assertions below fail
				cancelledAt.Store(time.Now().UnixNano())
				cancel()
				return
			}
		}
		cancelledAt.Store(time.Now().UnixNano())
		cancel()
	}()
	sum, err := Run(ctx, cfg)
	require.NoError(t, err)
	require.NotZero(t, cancelledAt.Load(), "Run returned before it was cancelled")
	assert.Less(t, time.Since(time.Unix(0, cancelledAt.Load())), stepBound, "cancelling ends the hour-long run")
	assert.Positive(t, sum.Counts.Completed)
	assert.Equal(t, sum.Sessions, sum.Counts.Total())
	assert.Contains(t, progress.String(), "completed")
}

func TestRunProgressOnATerminal(t *testing.T) {
	env := testenv.New(t)
	port, _ := startBaseline(t, env, baseline.Config{NBits: 4, Inject: baseline.InjectNever})
	cfg := baseConfig(env, port)
	cfg.Workers, cfg.Duration = 1, 300*time.Millisecond
	progress := &testlog.Buffer{}
	cfg.Progress, cfg.ProgressLive, cfg.ProgressInterval = progress, true, 50*time.Millisecond
	_, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	out := progress.String()
	assert.Contains(t, out, "\r\033[K", "the line is rewritten in place")
	assert.NotContains(t, out, "\n", "a terminal gets no scrolling lines")
	assert.True(t, strings.HasSuffix(out, "\r\033[K"), "the line is cleared before the summary")
}

func TestRunConfigErrors(t *testing.T) {
	env := testenv.New(t)
	ok := baseConfig(env, 1234)
	tests := []struct {
		name string
		mut  func(c *Config)
	}{
		{"no mode", func(c *Config) {}},
		{"two modes", func(c *Config) { c.Workers, c.Rate, c.Sessions = 1, 1, 1 }},
		{"no bound", func(c *Config) { c.Workers = 1 }},
		{"park without hold", func(c *Config) { c.Park = 1 }},
		{"no TLS", func(c *Config) { c.Workers, c.Sessions, c.TLS = 1, 1, nil }},
		{"bad port", func(c *Config) { c.Workers, c.Sessions, c.Port = 1, 1, 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mut(&cfg)
			_, err := Run(context.Background(), cfg)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}

func TestConnectFailuresBackOff(t *testing.T) {
	env := testenv.New(t)
	for _, mode := range []string{"closed", "park"} {
		t.Run(mode, func(t *testing.T) {
			cfg := baseConfig(env, testenv.ClosedPort(t))
			if mode == "closed" {
				cfg.Workers, cfg.Duration = 4, 400*time.Millisecond
			} else {
				cfg.Park, cfg.ParkDialers, cfg.Hold = 1_000_000, 4, time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
			defer cancel()
			sum, err := Run(ctx, cfg)
			require.NoError(t, err)
			// Backing off 5 ms doubling to 100 ms gives each of the 4
			// workers about 8 attempts in 400 ms; without it they make
			// thousands.
			assert.GreaterOrEqual(t, sum.Counts.ConnectErrors, uint64(4))
			assert.LessOrEqual(t, sum.Counts.ConnectErrors, uint64(4*12))
		})
	}
}
