package timerwheel

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestZeroAllocs(t *testing.T) {
	w := newWheel(t, DefaultTick, DefaultSlots)
	background := make([]Timer[int], 10000)
	for i := range background {
		w.Arm(&background[i], t0.Add(time.Duration(i)*time.Second/10))
	}
	var tm, other Timer[int]
	now := t0
	step := 0
	fire := func(f *Timer[int]) { w.Arm(f, now.Add(30*time.Minute)) }
	cases := []struct {
		name string
		op   func()
	}{
		{"arm+cancel", func() {
			w.Arm(&tm, t0.Add(10*time.Second))
			w.Cancel(&tm)
		}},
		{"reset", func() {
			step++
			w.Arm(&other, t0.Add(time.Duration(step%18000)*DefaultTick))
		}},
		{"advance with re-arming fire", func() {
			now = now.Add(DefaultTick)
			w.Advance(now, fire)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(1000, tc.op))
		})
	}
	require.NoError(t, w.check())
}

// liveWheel returns a default wheel holding n timers spread uniformly over
// the next 30 minutes, like a loop full of sessions in WORK.
func liveWheel(b *testing.B, n int, spread time.Duration) (*Wheel[int], []Timer[int]) {
	b.Helper()
	w, err := New[int](DefaultTick, DefaultSlots, t0)
	require.NoError(b, err)
	rng := rand.New(rand.NewPCG(1, 1))
	timers := make([]Timer[int], n)
	for i := range timers {
		timers[i].Value = i
		w.Arm(&timers[i], t0.Add(time.Duration(rng.Int64N(int64(spread)))+1))
	}
	return w, timers
}

const (
	benchLive   = 1_000_000
	benchSpread = 30 * time.Minute
)

// BenchmarkArmCancel1M measures the per-step cost a session pays with a
// million others live: arm+cancel of a fresh timer, and a reset (move) of a
// live one, which is what re-arming at each protocol step does.
func BenchmarkArmCancel1M(b *testing.B) {
	w, timers := liveWheel(b, benchLive, benchSpread)
	// Deadlines precomputed so the loop measures the wheel, not the RNG.
	rng := rand.New(rand.NewPCG(2, 2))
	offs := make([]time.Time, 1<<16)
	for i := range offs {
		offs[i] = t0.Add(time.Duration(rng.Int64N(int64(benchSpread))) + 1)
	}
	b.Run("arm+cancel", func(b *testing.B) {
		var tm Timer[int]
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			w.Arm(&tm, offs[i&(len(offs)-1)])
			w.Cancel(&tm)
			i++
		}
	})
	b.Run("reset", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			// Stride through the live timers so each reset touches a
			// cold node and cold neighbours, as real sessions would.
			w.Arm(&timers[(i*7919)%len(timers)], offs[i&(len(offs)-1)])
			i++
		}
	})
	if w.Len() != benchLive {
		b.Fatalf("Len %d, want %d", w.Len(), benchLive)
	}
}

// BenchmarkAdvance measures one tick's Advance with a million live timers,
// for the default wheel and a 4096-slot one whose revolution (409.6 s) is
// shorter than the 30 min deadlines, so slots hold timers of later rounds.
// steady: deadlines spread over 30 min (~55 due per tick), each fired timer
// re-armed 30 min ahead as a session would be. idle: all deadlines a year
// out, so nothing fires and the cost is the slot scan alone.
func BenchmarkAdvance(b *testing.B) {
	cases := []struct {
		name   string
		slots  int
		offset time.Duration
	}{
		{"steady/slots=default", DefaultSlots, 0},
		{"steady/slots=4096", 4096, 0},
		{"idle/slots=default", DefaultSlots, 365 * 24 * time.Hour},
		{"idle/slots=4096", 4096, 365 * 24 * time.Hour},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			w, err := New[int](DefaultTick, tc.slots, t0)
			require.NoError(b, err)
			rng := rand.New(rand.NewPCG(1, 1))
			timers := make([]Timer[int], benchLive)
			for i := range timers {
				w.Arm(&timers[i], t0.Add(tc.offset+time.Duration(rng.Int64N(int64(benchSpread)))+1))
			}
			now := t0
			fire := func(tm *Timer[int]) { w.Arm(tm, now.Add(benchSpread)) }
			fired := 0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(DefaultTick)
				fired += w.Advance(now, fire)
			}
			b.ReportMetric(float64(fired)/float64(b.N), "fired/op")
			if w.Len() != benchLive {
				b.Fatalf("Len %d, want %d", w.Len(), benchLive)
			}
		})
	}
}
