package timerwheel

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFireCallbackMutates drives a wheel whose fire callback arms, re-arms
// and cancels timers, including neighbours in the slot list being walked.
// Timers armed in the same tick are linked newest first, so timer 2 fires
// before 1 before 0 when all three share a slot.
func TestFireCallbackMutates(t *testing.T) {
	type env struct {
		w      *Wheel[int]
		timers []Timer[int]
		now    int // tick of the running Advance
	}
	at := func(k int) time.Time { return t0.Add(time.Duration(k) * testTick) }
	cases := []struct {
		name   string
		arm    []int // deadline tick per timer (value = index); -1 leaves it disarmed
		steps  []int // tick of each Advance
		onFire func(e *env, tm *Timer[int])
		want   map[int][]int // timer -> ticks it fired at
	}{
		{
			name:  "re-arm self periodically",
			arm:   []int{2},
			steps: seq(1, 12),
			onFire: func(e *env, tm *Timer[int]) {
				e.w.Arm(tm, at(e.now+3))
			},
			want: map[int][]int{0: {2, 5, 8, 11}},
		},
		{
			name:  "re-arm self into the past fires next Advance, not this one",
			arm:   []int{2},
			steps: []int{1, 2, 2, 2, 3},
			onFire: func(e *env, tm *Timer[int]) {
				e.w.Arm(tm, at(-100))
			},
			want: map[int][]int{0: {2, 2, 2, 3}},
		},
		{
			name:  "first fired cancels the rest of its slot",
			arm:   []int{4, 4, 4, 4, 4},
			steps: seq(1, 10),
			onFire: func(e *env, tm *Timer[int]) {
				for i := range e.timers {
					e.w.Cancel(&e.timers[i])
				}
			},
			want: map[int][]int{4: {4}},
		},
		{
			name:  "cancel the next node in the list",
			arm:   []int{4, 4, 4},
			steps: seq(1, 10),
			onFire: func(e *env, tm *Timer[int]) {
				if tm.Value == 2 {
					e.w.Cancel(&e.timers[1])
				}
			},
			want: map[int][]int{2: {4}, 0: {4}},
		},
		{
			name:  "cancel an already visited timer of a later revolution",
			arm:   []int{4 + 16, 4},
			steps: seq(1, 30),
			onFire: func(e *env, tm *Timer[int]) {
				if tm.Value == 1 {
					e.w.Cancel(&e.timers[0])
				}
			},
			want: map[int][]int{1: {4}},
		},
		{
			name:  "push a slot neighbour to later",
			arm:   []int{4, 4, 4},
			steps: seq(1, 10),
			onFire: func(e *env, tm *Timer[int]) {
				if tm.Value == 2 {
					e.w.Arm(&e.timers[1], at(7))
					e.w.Arm(&e.timers[0], at(4+16)) // same slot, next revolution
				}
			},
			want: map[int][]int{2: {4}, 1: {7}},
		},
		{
			name:  "pull a future timer into this tick fires at next Advance",
			arm:   []int{4, 9},
			steps: seq(1, 10),
			onFire: func(e *env, tm *Timer[int]) {
				if tm.Value == 0 {
					e.w.Arm(&e.timers[1], at(4))
				}
			},
			want: map[int][]int{0: {4}, 1: {5}},
		},
		{
			name:  "arm a new timer",
			arm:   []int{3, -1, -1},
			steps: seq(1, 10),
			onFire: func(e *env, tm *Timer[int]) {
				if tm.Value == 0 {
					e.w.Arm(&e.timers[1], at(3+16)) // same slot, next revolution
					e.w.Arm(&e.timers[2], at(6))
				}
			},
			want: map[int][]int{0: {3}, 2: {6}},
		},
		{
			name:  "stall: cancel a due timer in a slot not yet visited",
			arm:   []int{3, 9, 12},
			steps: []int{1, 40},
			onFire: func(e *env, tm *Timer[int]) {
				if tm.Value == 0 {
					e.w.Cancel(&e.timers[1])
				}
			},
			want: map[int][]int{0: {40}, 2: {40}},
		},
		{
			name:  "stall: re-armed due timer waits for a later Advance",
			arm:   []int{3, 9},
			steps: []int{1, 40, 41, 60},
			onFire: func(e *env, tm *Timer[int]) {
				if tm.Value == 0 && e.now == 40 {
					e.w.Arm(&e.timers[1], at(50))
				}
				if tm.Value == 0 && e.now < 60 {
					e.w.Arm(tm, at(2)) // already passed
				}
			},
			want: map[int][]int{0: {40, 41, 60}, 1: {60}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{w: newWheel(t, testTick, 16), timers: make([]Timer[int], len(tc.arm))}
			for i, k := range tc.arm {
				e.timers[i].Value = i
				if k >= 0 {
					e.w.Arm(&e.timers[i], at(k))
				}
			}
			got := map[int][]int{}
			for _, k := range tc.steps {
				e.now = k
				n := e.w.Advance(at(k), func(tm *Timer[int]) {
					require.False(t, tm.Armed(), "timer must be disarmed before fire")
					got[tm.Value] = append(got[tm.Value], k)
					tc.onFire(e, tm)
				})
				require.NoError(t, e.w.check(), "after Advance(%d)", k)
				fired := 0
				for _, ks := range got {
					for _, fk := range ks {
						if fk == k {
							fired++
						}
					}
				}
				// Repeated steps at the same tick count together; only
				// check the return value when the tick is new.
				if countOf(tc.steps, k) == 1 {
					require.Equal(t, fired, n, "return of Advance(%d)", k)
				}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func seq(from, to int) []int {
	s := make([]int, 0, to-from+1)
	for k := from; k <= to; k++ {
		s = append(s, k)
	}
	return s
}

func countOf(s []int, v int) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestMisusePanics(t *testing.T) {
	cases := []struct {
		name string
		do   func(a, b *Wheel[int])
		msg  string
	}{
		{"arm timer of another wheel", func(a, b *Wheel[int]) {
			var tm Timer[int]
			a.Arm(&tm, t0.Add(time.Second))
			b.Arm(&tm, t0.Add(time.Second))
		}, "timerwheel: timer is armed in another wheel"},
		{"cancel timer of another wheel", func(a, b *Wheel[int]) {
			var tm Timer[int]
			a.Arm(&tm, t0.Add(time.Second))
			b.Cancel(&tm)
		}, "timerwheel: timer is armed in another wheel"},
		{"nested Advance", func(a, _ *Wheel[int]) {
			var tm Timer[int]
			a.Arm(&tm, t0)
			a.Advance(t0, func(*Timer[int]) { a.Advance(t0, func(*Timer[int]) {}) })
		}, "timerwheel: Advance called from a fire callback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newWheel(t, testTick, 8), newWheel(t, testTick, 8)
			require.PanicsWithValue(t, tc.msg, func() { tc.do(a, b) })
		})
	}
}

// TestAdvanceUsableAfterCallbackPanic makes sure a recovered panic in fire
// does not leave the wheel refusing every later Advance.
func TestAdvanceUsableAfterCallbackPanic(t *testing.T) {
	w := newWheel(t, testTick, 8)
	var a, b Timer[int]
	w.Arm(&a, t0.Add(testTick))
	w.Arm(&b, t0.Add(2*testTick))
	require.Panics(t, func() { w.Advance(t0.Add(testTick), func(*Timer[int]) { panic("boom") }) })
	require.Equal(t, 1, w.Advance(t0.Add(2*testTick), func(*Timer[int]) {}))
	require.Zero(t, w.Len())
}
