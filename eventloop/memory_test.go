package eventloop

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBurstReturnActsOnceADrainedBurstStaysQuiet(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := time.Second
	type obs struct {
		at      time.Duration
		conns   int64
		acts    bool
		settles bool // the act is the follow-up release
	}
	tests := []struct {
		name string
		seq  []obs
	}{
		{"small load never", []obs{{0, 100, false, false}, {s, 0, false, false}, {10 * s, 0, false, false}}},
		{"a burst that drained and stayed down", []obs{
			{0, 2000, false, false}, {s, 400, false, false}, {2 * s, 400, false, false}, {3500 * time.Millisecond, 300, true, false},
			{10 * s, 0, false, false},
			{13500 * time.Millisecond, 0, true, true}, // what was freed since the release
			{60 * s, 0, false, false},                 // then no more
		}},
		{"a dip is not a drain", []obs{
			{0, 2000, false, false}, {s, 100, false, false}, {2 * s, 1500, false, false}, {5 * s, 1500, false, false},
		}},
		{"the next burst is watched anew", []obs{
			{0, 1000, false, false}, {s, 0, false, false}, {4 * s, 0, true, false},
			{5 * s, 3000, false, false}, // busy again: no follow-up for the first burst
			{6 * s, 10, false, false}, {9 * s, 10, true, false},
			{14 * s, 10, false, false}, {19 * s, 10, true, true},
		}},
		{"no follow-up once the load is back", []obs{
			{0, 2000, false, false}, {s, 0, false, false}, {4 * s, 0, true, false},
			{10 * s, 1000, false, false}, {20 * s, 1000, false, false}, {60 * s, 1000, false, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			released := make(chan struct{}, 10)
			b := &burstReturn{release: func() { released <- struct{}{} }}
			for i, o := range tc.seq {
				peak, settled := b.observe(o.conns, t0.Add(o.at))
				assert.Equal(t, o.acts, peak > 0, "observation %d", i)
				assert.Equal(t, o.settles, settled, "observation %d: follow-up", i)
				if peak > 0 {
					select {
					case <-released:
					case <-time.After(ioBound):
						t.Fatal("release did not run")
					}
					require.Eventually(t, func() bool { return !b.running.Load() }, ioBound, time.Millisecond)
				}
			}
		})
	}
}
