package suite

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"tlslpd/timerwheel"
)

// TimerResult is one timer micro-benchmark: the median of several
// testing.Benchmark runs.
type TimerResult struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	OpsPerSec   float64 `json:"ops_per_s"`
	AllocsPerOp int64   `json:"allocs_per_op"`
}

const (
	timersLive   = 1_000_000
	timersSpread = 30 * time.Minute // deadlines like sessions sitting in WORK
)

// timerOffsets are precomputed deadlines so the loops time the timers, not
// the random number generator.
func timerOffsets(seed uint64) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, seed))
	offs := make([]time.Duration, 1<<16)
	for i := range offs {
		offs[i] = time.Duration(rng.Int64N(int64(timersSpread))) + time.Second
	}
	return offs
}

// medianBench runs fn rounds times and keeps the median ns/op, which shrugs
// off a round that another process slowed down.
func medianBench(name string, rounds int, fn func(b *testing.B)) TimerResult {
	res := make([]testing.BenchmarkResult, 0, rounds)
	for range rounds {
		res = append(res, testing.Benchmark(fn))
	}
	sort.Slice(res, func(i, j int) bool { return res[i].NsPerOp() < res[j].NsPerOp() })
	m := res[len(res)/2]
	ns := float64(m.T.Nanoseconds()) / float64(max(m.N, 1))
	out := TimerResult{Name: name, NsPerOp: ns, AllocsPerOp: m.AllocsPerOp()}
	if ns > 0 {
		out.OpsPerSec = 1e9 / ns
	}
	return out
}

// benchTimerWheel: Arm+Cancel of one timer on a wheel holding 1M live
// timers, the per-step cost a tlslpd session pays.
func benchTimerWheel(rounds int) (TimerResult, error) {
	t0 := time.Now()
	w, err := timerwheel.New[int](timerwheel.DefaultTick, timerwheel.DefaultSlots, t0)
	if err != nil {
		return TimerResult{}, fmt.Errorf("timer wheel: %w", err)
	}
	live := make([]timerwheel.Timer[int], timersLive)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range live {
		live[i].Value = i
		w.Arm(&live[i], t0.Add(time.Duration(rng.Int64N(int64(timersSpread)))+time.Second))
	}
	offs := timerOffsets(2)
	deadlines := make([]time.Time, len(offs))
	for i, o := range offs {
		deadlines[i] = t0.Add(o)
	}
	var tm timerwheel.Timer[int]
	r := medianBench("timer wheel Arm+Cancel", rounds, func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			w.Arm(&tm, deadlines[i&(len(deadlines)-1)])
			w.Cancel(&tm)
		}
	})
	if w.Len() != timersLive {
		return r, fmt.Errorf("timer wheel holds %d timers after the benchmark, want %d", w.Len(), timersLive)
	}
	return r, nil
}

// benchRuntimeTimers: the idiomatic alternative, Go runtime timers with 1M
// live. "AfterFunc+Stop" makes a fresh timer per op, as per-connection code
// does; "Reset+Stop" reuses one, the cheapest use of the runtime API.
func benchRuntimeTimers(rounds int) (afterFunc, reset TimerResult) {
	noop := func() {}
	live := make([]*time.Timer, timersLive)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range live {
		live[i] = time.AfterFunc(time.Duration(rng.Int64N(int64(timersSpread)))+time.Second, noop)
	}
	defer func() {
		for _, t := range live {
			t.Stop()
		}
	}()
	offs := timerOffsets(2)
	afterFunc = medianBench("runtime time.AfterFunc+Stop", rounds, func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			t := time.AfterFunc(offs[i&(len(offs)-1)], noop)
			t.Stop()
		}
	})
	tm := time.AfterFunc(time.Hour, noop)
	tm.Stop()
	reset = medianBench("runtime Timer.Reset+Stop", rounds, func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			tm.Reset(offs[i&(len(offs)-1)])
			tm.Stop()
		}
	})
	return afterFunc, reset
}
