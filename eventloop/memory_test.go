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
		at    time.Duration
		conns int64
		acts  bool
	}
	tests := []struct {
		name string
		seq  []obs
	}{
		{"small load never", []obs{{0, 100, false}, {s, 0, false}, {10 * s, 0, false}}},
		{"a burst that drained and stayed down", []obs{
			{0, 2000, false}, {s, 400, false}, {2 * s, 400, false}, {3500 * time.Millisecond, 300, true},
			{10 * s, 0, false}, // once per burst
		}},
		{"a dip is not a drain", []obs{
			{0, 2000, false}, {s, 100, false}, {2 * s, 1500, false}, {5 * s, 1500, false},
		}},
		{"the next burst is watched anew", []obs{
			{0, 1000, false}, {s, 0, false}, {4 * s, 0, true},
			{5 * s, 3000, false}, {6 * s, 10, false}, {9 * s, 10, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			released := make(chan struct{}, 10)
			b := &burstReturn{release: func() { released <- struct{}{} }}
			for i, o := range tc.seq {
				peak := b.observe(o.conns, t0.Add(o.at))
				assert.Equal(t, o.acts, peak > 0, "observation %d", i)
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
