package timerwheel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testTick = 100 * time.Millisecond

// t0 is deliberately not tick-aligned in wall time so that any rounding done
// against the Unix epoch instead of start shows up.
var t0 = time.Unix(1_700_000_000, 37_000_123)

func newWheel(t testing.TB, tick time.Duration, slots int) *Wheel[int] {
	t.Helper()
	w, err := New[int](tick, slots, t0)
	require.NoError(t, err)
	return w
}

// recorder collects fired timer values.
type recorder struct{ got []int }

func (r *recorder) fire(t *Timer[int]) { r.got = append(r.got, t.Value) }

// check verifies the wheel's structural invariants: links are consistent,
// every armed timer sits in the list its expiry maps to, and Len matches.
func (w *Wheel[T]) check() error {
	n := 0
	for i, h := range w.heads {
		var prev *Timer[T]
		for t := h; t != nil; prev, t = t, t.next {
			n++
			switch {
			case t.prev != prev:
				return fmt.Errorf("list %d: broken prev link", i)
			case t.owner != w:
				return fmt.Errorf("list %d: node owner mismatch", i)
			case int(t.list) != i:
				return fmt.Errorf("list %d: node says list %d", i, t.list)
			case int32(i) == w.due && t.expires > w.cur:
				return fmt.Errorf("due list holds future tick %d (cur %d)", t.expires, w.cur)
			case int32(i) != w.due && (t.expires&w.mask != int64(i) || t.expires <= w.cur):
				return fmt.Errorf("slot %d holds tick %d (cur %d)", i, t.expires, w.cur)
			}
		}
	}
	if n != w.count {
		return fmt.Errorf("Len %d but %d nodes linked", w.count, n)
	}
	return nil
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name  string
		tick  time.Duration
		slots int
		err   error
	}{
		{"defaults", DefaultTick, DefaultSlots, nil},
		{"one slot", time.Nanosecond, 1, nil},
		{"zero tick", 0, 8, ErrInvalidTick},
		{"negative tick", -time.Second, 8, ErrInvalidTick},
		{"zero slots", time.Second, 0, ErrInvalidSlots},
		{"negative slots", time.Second, -8, ErrInvalidSlots},
		{"not power of two", time.Second, 12, ErrInvalidSlots},
		{"too many", time.Second, MaxSlots * 2, ErrInvalidSlots},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New[int](tc.tick, tc.slots, t0)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Nil(t, w)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.tick, w.Tick())
			assert.Zero(t, w.Len())
		})
	}
}

// TestFiresAtDeadline checks a single timer against the rounding rule:
// never before the deadline, at the first Advance reaching the deadline
// rounded up to the tick, and exactly once.
func TestFiresAtDeadline(t *testing.T) {
	cases := []struct {
		name     string
		slots    int
		deadline time.Duration // after t0
		// whether Advance(deadline) itself fires: only when the deadline is
		// on a tick boundary.
		atDeadline bool
	}{
		{"aligned", 16, 5 * testTick, true},
		{"unaligned", 16, 5*testTick + 1, false},
		{"just before boundary", 16, 6*testTick - 1, false},
		{"first tick", 16, 1, false},
		{"exactly one revolution", 16, 16 * testTick, true},
		{"several revolutions unaligned", 16, 50*testTick + 3*time.Millisecond, false},
		{"one slot wheel", 1, 7 * testTick, true},
		{"30 min 4096 slots", 4096, 30 * time.Minute, true},
		{"30 min plus 1ns 4096 slots", 4096, 30*time.Minute + 1, false},
		{"30 min default wheel", DefaultSlots, 30 * time.Minute, true},
		{"2 h default wheel", DefaultSlots, 2*time.Hour + 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWheel(t, testTick, tc.slots)
			var r recorder
			tm := &Timer[int]{Value: 1}
			d := t0.Add(tc.deadline)
			w.Arm(tm, d)
			require.True(t, tm.Armed())

			// Regular ticks up to just before the deadline never fire.
			for now := t0; now.Before(d); now = now.Add(testTick) {
				require.Zero(t, w.Advance(now, r.fire), "fired early at %v", now.Sub(t0))
			}
			require.Zero(t, w.Advance(d.Add(-1), r.fire))
			require.Empty(t, r.got)

			n := w.Advance(d, r.fire)
			if tc.atDeadline {
				require.Equal(t, 1, n)
				require.Equal(t, []int{1}, r.got)
			} else {
				require.Zero(t, n)
				require.Empty(t, r.got)
			}
			w.Advance(d.Add(testTick), r.fire)
			require.Equal(t, []int{1}, r.got, "must fire exactly once, by deadline+tick")
			assert.False(t, tm.Armed())
			assert.Zero(t, w.Len())

			// Further revolutions must not fire it again.
			w.Advance(d.Add(time.Duration(3*tc.slots)*testTick), r.fire)
			assert.Equal(t, []int{1}, r.got)
			require.NoError(t, w.check())
		})
	}
}

// TestLongDeadlineNotEarly walks a 4096-slot wheel (409.6 s revolution) tick
// by tick to 30 min deadlines and checks each fires on its own tick, not on
// an earlier revolution's visit of the same slot.
func TestLongDeadlineNotEarly(t *testing.T) {
	w := newWheel(t, DefaultTick, 4096)
	deadlines := []time.Duration{30 * time.Minute, 30*time.Minute - 50*time.Millisecond, 409600 * time.Millisecond, 17 * time.Minute}
	timers := make([]Timer[int], len(deadlines))
	for i, d := range deadlines {
		timers[i].Value = i
		w.Arm(&timers[i], t0.Add(d))
	}
	firedAt := map[int]time.Duration{}
	for k := 1; k <= 18001; k++ {
		now := time.Duration(k) * DefaultTick
		w.Advance(t0.Add(now), func(tm *Timer[int]) {
			_, dup := firedAt[tm.Value]
			require.False(t, dup, "timer %d fired twice", tm.Value)
			firedAt[tm.Value] = now
		})
	}
	for i, d := range deadlines {
		want := (d + DefaultTick - 1) / DefaultTick * DefaultTick
		assert.Equal(t, want, firedAt[i], "deadline %v", d)
	}
	assert.Zero(t, w.Len())
}

func TestCancelAndReset(t *testing.T) {
	cases := []struct {
		name string
		// op runs after arming at 10 ticks and advancing to 3 ticks.
		op        func(w *Wheel[int], tm *Timer[int])
		wantFired time.Duration // 0: never fires
	}{
		{"untouched", func(*Wheel[int], *Timer[int]) {}, 10 * testTick},
		{"cancel", func(w *Wheel[int], tm *Timer[int]) { w.Cancel(tm) }, 0},
		{"reset later", func(w *Wheel[int], tm *Timer[int]) { w.Arm(tm, t0.Add(25*testTick)) }, 25 * testTick},
		{"reset earlier", func(w *Wheel[int], tm *Timer[int]) { w.Arm(tm, t0.Add(5*testTick)) }, 5 * testTick},
		{"reset to past", func(w *Wheel[int], tm *Timer[int]) { w.Arm(tm, t0.Add(-time.Hour)) }, 4 * testTick},
		{"reset same slot next revolution", func(w *Wheel[int], tm *Timer[int]) { w.Arm(tm, t0.Add(26*testTick)) }, 26 * testTick},
		{"cancel then rearm", func(w *Wheel[int], tm *Timer[int]) {
			w.Cancel(tm)
			w.Arm(tm, t0.Add(12*testTick))
		}, 12 * testTick},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWheel(t, testTick, 16)
			tm := &Timer[int]{Value: 7}
			w.Arm(tm, t0.Add(10*testTick))
			var r recorder
			w.Advance(t0.Add(3*testTick), r.fire)
			tc.op(w, tm)
			require.NoError(t, w.check())
			var firedAt time.Duration
			for k := 4; k <= 60; k++ {
				if w.Advance(t0.Add(time.Duration(k)*testTick), r.fire) > 0 {
					require.Zero(t, firedAt, "fired twice")
					firedAt = time.Duration(k) * testTick
				}
			}
			assert.Equal(t, tc.wantFired, firedAt)
			assert.Zero(t, w.Len())
			assert.False(t, tm.Armed())
		})
	}
}

func TestCancelIdempotent(t *testing.T) {
	w := newWheel(t, testTick, 8)
	var a, b Timer[int]
	assert.False(t, w.Cancel(&a), "never armed")
	w.Arm(&a, t0.Add(time.Second))
	w.Arm(&b, t0.Add(time.Second))
	require.Equal(t, 2, w.Len())
	assert.True(t, w.Cancel(&a))
	assert.False(t, w.Cancel(&a))
	assert.Equal(t, 1, w.Len())
	assert.True(t, b.Armed())
	require.NoError(t, w.check())
}

func TestPastDeadlineFiresAtNextAdvance(t *testing.T) {
	cases := []struct {
		name     string
		advance  time.Duration // wheel time before arming
		deadline time.Duration
		next     time.Duration // now of the next Advance, may not cross a tick
	}{
		{"before start", 0, -time.Hour, 0},
		{"at start", 0, 0, 1},
		{"long past", 50 * testTick, 10 * testTick, 50 * testTick},
		{"current tick boundary", 50 * testTick, 50 * testTick, 50*testTick + 1},
		{"next Advance goes backwards", 50 * testTick, time.Second, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWheel(t, testTick, 16)
			var r recorder
			w.Advance(t0.Add(tc.advance), r.fire)
			tm := &Timer[int]{Value: 3}
			w.Arm(tm, t0.Add(tc.deadline))
			require.NoError(t, w.check())
			assert.Equal(t, 1, w.Advance(t0.Add(tc.next), r.fire))
			assert.Equal(t, []int{3}, r.got)
			assert.Zero(t, w.Advance(t0.Add(tc.next+testTick), r.fire))
			assert.Zero(t, w.Len())
		})
	}
}

func TestWithinCurrentTickWaitsForBoundary(t *testing.T) {
	w := newWheel(t, testTick, 16)
	var r recorder
	w.Advance(t0.Add(5*testTick+10*time.Millisecond), r.fire)
	tm := &Timer[int]{Value: 1}
	// Not yet passed by the wheel (5 ticks) though before the last now.
	w.Arm(tm, t0.Add(5*testTick+time.Millisecond))
	require.Zero(t, w.Advance(t0.Add(5*testTick+90*time.Millisecond), r.fire))
	require.Equal(t, 1, w.Advance(t0.Add(6*testTick), r.fire))
}

func TestBackwardsNowIsNoop(t *testing.T) {
	w := newWheel(t, testTick, 16)
	var r recorder
	timers := make([]Timer[int], 4)
	for i := range timers {
		timers[i].Value = i
		w.Arm(&timers[i], t0.Add(time.Duration(10+i)*testTick))
	}
	require.Zero(t, w.Advance(t0.Add(9*testTick), r.fire))
	for _, back := range []time.Duration{8 * testTick, 0, -time.Hour, -100 * 365 * 24 * time.Hour} {
		require.Zero(t, w.Advance(t0.Add(back), r.fire), "back to %v", back)
	}
	require.Equal(t, 4, w.Len())
	// The wheel kept its time: only one more tick is needed.
	require.Equal(t, 1, w.Advance(t0.Add(10*testTick), r.fire))
	require.Equal(t, []int{0}, r.got)
	require.NoError(t, w.check())
}

// TestStall checks that after a huge gap everything due fires exactly once,
// timers not yet due stay, and the work is bounded: the 100-year gap with a
// 1 ns tick is ~3e18 ticks, which a tick-by-tick loop would never finish.
func TestStall(t *testing.T) {
	cases := []struct {
		name  string
		tick  time.Duration
		slots int
		gap   time.Duration
	}{
		{"5 min stall default wheel", DefaultTick, DefaultSlots, 5 * time.Minute},
		{"1 h stall 4096 slots", DefaultTick, 4096, time.Hour},
		{"exactly one revolution", testTick, 64, 64 * testTick},
		{"one tick under a revolution", testTick, 64, 63 * testTick},
		{"100 years 1ns tick", time.Nanosecond, 1024, 100 * 365 * 24 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New[int](tc.tick, tc.slots, t0)
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(1, 2))
			const n = 5000
			timers := make([]Timer[int], n)
			wantDue := map[int]bool{}
			for i := range timers {
				timers[i].Value = i
				// Spread over twice the gap so about half is due.
				d := time.Duration(rng.Int64N(int64(2*tc.gap))) + 1
				w.Arm(&timers[i], t0.Add(d))
				if d <= tc.gap {
					wantDue[i] = true
				}
			}
			got := map[int]int{}
			fired := w.Advance(t0.Add(tc.gap), func(tm *Timer[int]) { got[tm.Value]++ })
			require.Equal(t, len(wantDue), fired)
			require.Len(t, got, len(wantDue))
			for i, c := range got {
				require.True(t, wantDue[i], "timer %d fired early", i)
				require.Equal(t, 1, c, "timer %d fired %d times", i, c)
			}
			require.Equal(t, n-len(wantDue), w.Len())
			require.NoError(t, w.check())
		})
	}
}

func TestManyTimersOneSlot(t *testing.T) {
	const slots = 8
	w := newWheel(t, testTick, slots)
	// 300 timers on slot 3: 100 due at tick 3, 100 at tick 11, 100 at tick 19.
	timers := make([]Timer[int], 300)
	for i := range timers {
		timers[i].Value = i
		k := 3 + slots*(i%3)
		w.Arm(&timers[i], t0.Add(time.Duration(k)*testTick))
	}
	require.NotNil(t, w.heads[3])
	var r recorder
	for k := 1; k <= 20; k++ {
		n := w.Advance(t0.Add(time.Duration(k)*testTick), r.fire)
		switch k {
		case 3, 11, 19:
			require.Equal(t, 100, n, "tick %d", k)
		default:
			require.Zero(t, n, "tick %d", k)
		}
		require.NoError(t, w.check())
	}
	slices.Sort(r.got)
	want := make([]int, 300)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, r.got)
}
