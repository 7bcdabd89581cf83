package loadgen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testenv"
)

// generatorRun is one load generator's run with its --out file and the
// raw latency of every completed session.
type generatorRun struct {
	sum     Summary
	out     bytes.Buffer
	samples []time.Duration
}

// runGenerators runs n load generators side by side against one
// in-process tlslpd, each writing --out with 200 ms intervals.
func runGenerators(t *testing.T, n int) []*generatorRun {
	t.Helper()
	env := testenv.New(t)
	port := startTlslpd(t, env, "--n_bits", "8")
	runs := make([]*generatorRun, n)
	var wg sync.WaitGroup
	for i := range runs {
		g := &generatorRun{}
		runs[i] = g
		cfg := baseConfig(env, port)
		// tlslpd injects FAIL in about 90% of sessions: 100 leave ~10 completed.
		cfg.Workers, cfg.Sessions, cfg.Interval, cfg.Out = 2, 100, 200*time.Millisecond, &g.out
		var mu sync.Mutex
		WithSampleHook(&cfg, func(d time.Duration) {
			mu.Lock()
			g.samples = append(g.samples, d)
			mu.Unlock()
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			g.sum, err = Run(context.Background(), cfg)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	return runs
}

func readers(t *testing.T, runs []*generatorRun) []*ResultsReader {
	var rs []*ResultsReader
	for i, g := range runs {
		rr, err := NewResultsReader(bytes.NewReader(g.out.Bytes()), "run"+string(rune('A'+i)))
		require.NoError(t, err)
		rs = append(rs, rr)
	}
	return rs
}

func TestMergeMatchesCombinedRun(t *testing.T) {
	runs := runGenerators(t, 2)
	merged, err := Merge(readers(t, runs))
	require.NoError(t, err)

	// Counts add up exactly.
	var want Counts
	var started uint64
	all := newHist()
	var raw []time.Duration
	for _, g := range runs {
		want.merge(g.sum.Counts)
		started += g.sum.Started
		for _, d := range g.samples {
			recordUs(all, d)
		}
		raw = append(raw, g.samples...)
	}
	assert.Equal(t, want, merged.Counts)
	assert.Equal(t, uint64(200), merged.Started)
	assert.Equal(t, started, merged.Started)
	assert.Equal(t, uint64(200), merged.Counts.Total())
	require.NotEmpty(t, raw, "some sessions completed")
	require.Len(t, merged.Generators, 2)

	// Percentiles are those of every session together: equal to one
	// histogram of all raw samples, and within the histogram's three
	// significant digits of the exact sample percentiles.
	require.Equal(t, uint64(len(raw)), merged.Latency.Count)
	combined := latencyOf(all)
	combined.hist = nil
	got := merged.Latency
	got.hist = nil
	assert.Equal(t, combined, got)
	sort.Slice(raw, func(i, j int) bool { return raw[i] < raw[j] })
	for _, q := range []struct {
		pct float64
		got float64
	}{{50, got.P50}, {90, got.P90}, {99, got.P99}} {
		// HdrHistogram's rank for a percentile: the ceil-ish count below it.
		rank := max(int(q.pct/100*float64(len(raw))+0.5), 1) - 1
		exact := float64(raw[rank].Microseconds()) / 1000
		assert.InEpsilon(t, exact, q.got, 0.005, "p%v", q.pct)
	}

	// Phases merge the same way.
	for _, p := range merged.Phases {
		var n uint64
		for _, g := range runs {
			for _, gp := range g.sum.Phases {
				if gp.Phase == p.Phase {
					n += gp.Latency.Count
				}
			}
		}
		assert.Equal(t, n, p.Latency.Count, p.Phase)
	}

	// Intervals are aligned on wall-clock multiples of their length and
	// merged by start time.
	var completed uint64
	for i, iv := range merged.Intervals {
		assert.Zero(t, iv.StartMs%200, "aligned to the interval")
		if i > 0 {
			assert.Greater(t, iv.StartMs, merged.Intervals[i-1].StartMs)
		}
		completed += iv.Completed
	}
	assert.Equal(t, merged.Counts.Completed, completed)
}

func TestResultsRoundTrip(t *testing.T) {
	runs := runGenerators(t, 1)
	g := runs[0]
	back, err := Merge(readers(t, runs))
	require.NoError(t, err)
	assert.Equal(t, g.sum.Counts, back.Counts)
	assert.Equal(t, g.sum.Started, back.Started)
	assert.Equal(t, g.sum.Latency.P99, back.Latency.P99)
	assert.Equal(t, g.sum.Intervals, back.Intervals)
	assert.Equal(t, g.sum.Generators[0].Args, back.Generators[0].Args)
	assert.Equal(t, 8, back.NBits)
	assert.False(t, back.Incomplete)

	// HdrHistogram's own log reader reads the file: tagged intervals with
	// absolute start times.
	lr := hdrhistogram.NewHistogramLogReader(bytes.NewReader(g.out.Bytes()))
	var sessions int64
	tags := map[string]bool{}
	for {
		h, err := lr.NextIntervalHistogram()
		require.NoError(t, err)
		if h == nil {
			break
		}
		tags[h.Tag()] = true
		if h.Tag() == "session" {
			sessions += h.TotalCount()
			assert.WithinDuration(t, time.Now(), time.UnixMilli(h.StartTimeMs()), time.Minute, "absolute start times")
		}
	}
	assert.Equal(t, int64(g.sum.Counts.Completed), sessions)
	for _, tag := range []string{"session", "connect", "tls", "hello", "solve", "verify", "body", "done"} {
		assert.True(t, tags[tag], tag)
	}

	// A file cut short (a killed generator) reads as far as it goes.
	text := g.out.String()
	cut := text[:strings.LastIndex(text, logIntervalPrefix)]
	rr, err := NewResultsReader(strings.NewReader(cut), "cut")
	require.NoError(t, err)
	short, err := Merge([]*ResultsReader{rr})
	require.NoError(t, err)
	assert.True(t, short.Incomplete)
	assert.LessOrEqual(t, short.Counts.Total(), g.sum.Counts.Total())
	assert.Contains(t, strings.Join(short.Warnings, "\n"), "ends early")
}

func TestReadResultsErrors(t *testing.T) {
	good := "#tlslpd-run {\"interval_ms\":1000}\n"
	tests := []struct{ name, file, want string }{
		{"empty", "", "no \"#tlslpd-run\" line"},
		{"not ours", "hello\n", "unexpected line"},
		{"bad meta", "#tlslpd-run {\n", "run metadata"},
		{"no interval", "#tlslpd-run {}\n", "interval_ms"},
		{"histogram outside", good + "Tag=session,1.000,1.000,1.0,HISTFAAA\n", "outside an interval"},
		{"wrong length", good + "#tlslpd-interval {\"start_ms\":1000,\"length_ms\":500}\n", "500 ms"},
		{"out of order", good + "#tlslpd-interval {\"start_ms\":2000,\"length_ms\":1000}\n#tlslpd-interval {\"start_ms\":1000,\"length_ms\":1000}\n", "out of order"},
		{"unknown tag", good + "#tlslpd-interval {\"start_ms\":1000,\"length_ms\":1000}\nTag=dns,1.000,1.000,1.0,HISTFAAA\n", "unknown tag"},
		{"misplaced histogram", good + "#tlslpd-interval {\"start_ms\":1000,\"length_ms\":1000}\nTag=session,7.000,1.000,1.0,HISTFAAA\n", "does not match"},
		{"bad histogram", good + "#tlslpd-interval {\"start_ms\":1000,\"length_ms\":1000}\nTag=session,1.000,1.000,1.0,HISTFAAA\n", "histogram"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rr, err := NewResultsReader(strings.NewReader(tc.file), "f")
			for err == nil {
				_, err = rr.Next()
			}
			if errors.Is(err, io.EOF) {
				t.Fatalf("read without error")
			}
			require.ErrorIs(t, err, ErrResults)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func FuzzResultsReader(f *testing.F) {
	var buf bytes.Buffer
	meta := &RunMeta{IntervalMs: 1000, StartTime: time.UnixMilli(1_700_000_000_000)}
	lw, err := newLogWriter(&buf, meta)
	require.NoError(f, err)
	iv := newInterval()
	iv.reset(time.UnixMilli(1_700_000_000_000), time.Second)
	iv.Counts.Completed = 2
	recordUs(iv.hists[tagSession], 3*time.Millisecond)
	recordUs(iv.hists[tagSession], 5*time.Millisecond)
	require.NoError(f, lw.interval(iv))
	require.NoError(f, lw.end(meta))
	f.Add(buf.String())
	f.Add("#tlslpd-run {\"interval_ms\":1000}\n#tlslpd-interval {\"start_ms\":1000,\"length_ms\":1000}\nTag=session,1.000,1.000,1.0,HISTFAAAAB\n")
	f.Fuzz(func(t *testing.T, file string) {
		rr, err := NewResultsReader(strings.NewReader(file), "fuzz")
		if err != nil {
			return
		}
		_, _ = Merge([]*ResultsReader{rr})
	})
}

// Merged generators' started rate is over the time any of them was
// starting sessions, whether they ran side by side or one after another.
func TestMergedStartedRateSpansTheRuns(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		metas    []RunMeta
		wantLoad float64
	}{
		{"one run", []RunMeta{{StartTime: t0, LoadSeconds: 5}}, 5},
		{"side by side", []RunMeta{{StartTime: t0, LoadSeconds: 5}, {StartTime: t0.Add(500 * time.Millisecond), LoadSeconds: 5}}, 5.5},
		{"one after another", []RunMeta{{StartTime: t0, LoadSeconds: 5}, {StartTime: t0.Add(8 * time.Second), LoadSeconds: 3}}, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.metas {
				tc.metas[i].EndTime = tc.metas[i].StartTime.Add(time.Duration(tc.metas[i].LoadSeconds * float64(time.Second)))
			}
			a := newAggregator()
			a.totals.Started = 1100
			s := a.summary(tc.metas)
			assert.InDelta(t, tc.wantLoad, s.LoadSeconds, 1e-9)
			assert.InDelta(t, 1100/tc.wantLoad, s.StartedPerSecond, 1e-6)
		})
	}
}

// Every outcome in the report's table says what it means, and the rows
// account for every session exactly once.
func TestOutcomeRowsExplainEveryOutcome(t *testing.T) {
	s := Summary{Counts: Counts{Completed: 1, ServerFail: 2, InjectedFail: 3, TLSErrors: 4, Timeouts: 5, ConnectErrors: 6, ProtocolErrors: 7, Unfinished: 8}}
	var n uint64
	for _, r := range s.outcomeRows() {
		assert.NotEmpty(t, r.Note, r.Name)
		n += r.N
	}
	assert.Equal(t, s.Counts.Total(), n)
}

// The same run given twice (a copied file, a path named twice) would
// count its sessions twice: Merge refuses it.
func TestMergeRefusesTheSameRunTwice(t *testing.T) {
	var buf bytes.Buffer
	meta := &RunMeta{Host: "gen-0", IntervalMs: 1000, StartTime: time.Unix(1_700_000_000, 123)}
	lw, err := newLogWriter(&buf, meta)
	require.NoError(t, err)
	iv := newInterval()
	iv.reset(time.UnixMilli(1_700_000_000_000), time.Second)
	iv.Counts.Completed = 1
	recordUs(iv.hists[tagSession], 3*time.Millisecond)
	require.NoError(t, lw.interval(iv))
	require.NoError(t, lw.end(meta))
	var rs []*ResultsReader
	for _, name := range []string{"a.hlog", "copy-of-a.hlog"} {
		rr, err := NewResultsReader(bytes.NewReader(buf.Bytes()), name)
		require.NoError(t, err)
		rs = append(rs, rr)
	}
	_, err = Merge(rs)
	require.ErrorIs(t, err, ErrResults)
	assert.Contains(t, err.Error(), "a.hlog and copy-of-a.hlog are the same run (host gen-0")

	one, err := NewResultsReader(bytes.NewReader(buf.Bytes()), "a.hlog")
	require.NoError(t, err)
	sum, err := Merge([]*ResultsReader{one})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), sum.Counts.Completed)
}
