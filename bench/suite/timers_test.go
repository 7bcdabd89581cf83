package suite

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var sink []byte

func TestBenchmarkCountsAllocsAndGrowsN(t *testing.T) {
	tests := []struct {
		name   string
		op     func(n int)
		allocs int64
	}{
		{"no allocation", func(n int) {
			for range n {
				sink = sink[:0]
			}
		}, 0},
		{"one allocation per op", func(n int) {
			for range n {
				sink = make([]byte, 64)
			}
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var largest int
			op := func(n int) { largest = max(largest, n); tc.op(n) }
			ns, allocs := benchmark(op, 20*time.Millisecond)
			assert.Equal(t, tc.allocs, allocs)
			assert.Positive(t, ns)
			assert.Greater(t, largest, 1000, "n grows until the run is long enough to time")
		})
	}
}
