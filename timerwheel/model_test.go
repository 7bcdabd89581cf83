package timerwheel

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// model is the reference: a deadline-sorted list of armed timers. The wheel
// time is start plus whole ticks up to the latest now seen; a timer is due
// once its deadline is at or before that time, which is exactly "deadline
// rounded up to the tick has been reached".
type model struct {
	start  time.Time
	tick   time.Duration
	cur    int64
	sorted []entry // by deadline, then id
}

type entry struct {
	at time.Time
	id int
}

func (m *model) remove(id int) {
	m.sorted = slices.DeleteFunc(m.sorted, func(e entry) bool { return e.id == id })
}

func (m *model) arm(id int, at time.Time) {
	m.remove(id)
	e := entry{at, id}
	i, _ := slices.BinarySearchFunc(m.sorted, e, cmpEntry)
	m.sorted = slices.Insert(m.sorted, i, e)
}

func (m *model) advance(now time.Time) []int {
	if d := now.Sub(m.start); d > 0 {
		m.cur = max(m.cur, int64(d/m.tick))
	}
	wheelTime := m.start.Add(time.Duration(m.cur) * m.tick)
	n := 0
	for n < len(m.sorted) && !m.sorted[n].at.After(wheelTime) {
		n++
	}
	ids := make([]int, n)
	for i, e := range m.sorted[:n] {
		ids[i] = e.id
	}
	m.sorted = m.sorted[n:]
	slices.Sort(ids)
	return ids
}

func cmpEntry(a, b entry) int {
	if c := a.at.Compare(b.at); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

func TestAgainstModel(t *testing.T) {
	cases := []struct {
		tick  time.Duration
		slots int
		seed  uint64
	}{
		{testTick, 1, 1},
		{testTick, 8, 2},
		{testTick, 64, 3},
		{7*time.Millisecond + 3, 32, 4},
		{DefaultTick, DefaultSlots, 5},
		{time.Nanosecond, 16, 6},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("tick=%v/slots=%d", tc.tick, tc.slots), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 99))
			w, err := New[int](tc.tick, tc.slots, t0)
			require.NoError(t, err)
			m := &model{start: t0, tick: tc.tick}
			rev := time.Duration(tc.slots) * tc.tick
			horizon := 4*rev + 3*tc.tick
			timers := make([]Timer[int], 300)
			for i := range timers {
				timers[i].Value = i
			}
			now, maxNow := t0, t0
			fired := []int{}
			fire := func(tm *Timer[int]) {
				fired = append(fired, tm.Value)
			}
			advances := 0
			for op := range 6000 {
				id := rng.IntN(len(timers))
				tm := &timers[id]
				switch r := rng.IntN(100); {
				case r < 45:
					d := now.Add(time.Duration(rng.Int64N(int64(horizon+tc.tick))) - tc.tick)
					w.Arm(tm, d)
					m.arm(id, d)
				case r < 60:
					was := tm.Armed()
					require.Equal(t, was, w.Cancel(tm))
					m.remove(id)
					require.False(t, tm.Armed())
				default:
					switch s := rng.IntN(100); {
					case s < 5:
						now = now.Add(-time.Duration(rng.Int64N(int64(3 * tc.tick))))
					case s < 8:
						now = now.Add(time.Duration(rng.Int64N(int64(3 * rev))))
					default:
						now = now.Add(time.Duration(rng.Int64N(int64(3 * tc.tick))))
					}
					if now.After(maxNow) {
						maxNow = now
					}
					fired = fired[:0]
					n := w.Advance(now, fire)
					require.Len(t, fired, n)
					slices.Sort(fired)
					require.Equal(t, m.advance(now), fired, "op %d Advance(%v)", op, now.Sub(t0))
					advances++
				}
				require.Equal(t, len(m.sorted), w.Len())
				if op%50 == 0 {
					require.NoError(t, w.check())
				}
			}
			require.Greater(t, advances, 1000)
		})
	}
}

// TestModelNeverEarly cross-checks the model's own rule on the wheel: every
// fired timer's deadline is at or before the latest now, and nothing due by
// more than a tick is left armed.
func TestModelNeverEarly(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	w := newWheel(t, testTick, 32)
	timers := make([]Timer[int], 500)
	deadlines := make([]time.Time, len(timers))
	for i := range timers {
		timers[i].Value = i
		deadlines[i] = t0.Add(time.Duration(rng.Int64N(int64(time.Minute))))
		w.Arm(&timers[i], deadlines[i])
	}
	for now := t0; w.Len() > 0; now = now.Add(time.Duration(rng.Int64N(int64(2 * testTick)))) {
		w.Advance(now, func(tm *Timer[int]) {
			require.False(t, deadlines[tm.Value].After(now), "timer %d fired early", tm.Value)
		})
		for i := range timers {
			if timers[i].Armed() {
				require.True(t, now.Sub(deadlines[i]) < testTick, "timer %d overdue at %v", i, now.Sub(t0))
			}
		}
	}
}
