package suite

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"time"

	"tlslpd/timerwheel"
)

// TimerResult is one timer micro-benchmark: the median of several runs.
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

// medianBench runs op rounds times and keeps the median ns/op, which
// shrugs off a round that another process slowed down.
func medianBench(name string, rounds int, op func(n int)) TimerResult {
	res := make([]TimerResult, 0, rounds)
	for range rounds {
		ns, allocs := benchmark(op, benchTime)
		res = append(res, TimerResult{Name: name, NsPerOp: ns, AllocsPerOp: allocs})
	}
	sort.Slice(res, func(i, j int) bool { return res[i].NsPerOp < res[j].NsPerOp })
	out := res[len(res)/2]
	if out.NsPerOp > 0 {
		out.OpsPerSec = 1e9 / out.NsPerOp
	}
	return out
}

// benchTime is how long the measured run of benchmark lasts at least, as
// testing.Benchmark's default -benchtime.
const benchTime = time.Second

// benchmark runs op(n) with n growing until one run takes d, as
// testing.Benchmark does (which would link package testing into the
// daemon's binary), and reports that run's ns and heap allocations per op.
func benchmark(op func(n int), d time.Duration) (nsPerOp float64, allocsPerOp int64) {
	for n := 1; ; {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		op(n)
		took := time.Since(start)
		runtime.ReadMemStats(&after)
		if took >= d || n >= 1e9 {
			return float64(took.Nanoseconds()) / float64(n), int64(after.Mallocs-before.Mallocs) / int64(n)
		}
		// Aim 20% past d, growing at most 100x a step.
		next := n * 100
		if took > 0 {
			next = min(next, int(1.2*float64(n)*float64(d)/float64(took)))
		}
		n = max(next, n+1)
	}
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
	r := medianBench("timer wheel Arm+Cancel", rounds, func(n int) {
		for i := range n {
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
	afterFunc = medianBench("runtime time.AfterFunc+Stop", rounds, func(n int) {
		for i := range n {
			t := time.AfterFunc(offs[i&(len(offs)-1)], noop)
			t.Stop()
		}
	})
	tm := time.AfterFunc(time.Hour, noop)
	tm.Stop()
	reset = medianBench("runtime Timer.Reset+Stop", rounds, func(n int) {
		for i := range n {
			tm.Reset(offs[i&(len(offs)-1)])
			tm.Stop()
		}
	})
	return afterFunc, reset
}

func (r *runner) timers() error {
	wheel, err := benchTimerWheel(r.opt.TimerRounds)
	if err != nil {
		return err
	}
	af, reset := benchRuntimeTimers(r.opt.TimerRounds)
	r.report.Timers = []TimerResult{wheel, af, reset}
	for _, t := range r.report.Timers {
		r.logf("%s: %.1f ns/op, %.3g ops/s, %d allocs/op", t.Name, t.NsPerOp, t.OpsPerSec, t.AllocsPerOp)
	}
	return nil
}
