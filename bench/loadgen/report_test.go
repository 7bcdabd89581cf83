package loadgen

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The latency chart draws every interval with completed sessions: runs of
// two or more as a line, and one between intervals without completions as
// a point, also in a run too long for per-interval markers.
func TestLatencyOverTimeDrawsEveryCompletedInterval(t *testing.T) {
	intervals := func(n int, completed ...int) []IntervalSummary {
		ivs := make([]IntervalSummary, n)
		for i := range ivs {
			ivs[i].StartMs = int64(i) * 250
		}
		for _, i := range completed {
			ivs[i].Completed, ivs[i].P50, ivs[i].P90, ivs[i].P99 = 1, 10, 20, 30
		}
		return ivs
	}
	for _, tc := range []struct {
		name            string
		ivs             []IntervalSummary
		lines, points   int // per series
		markersExpected bool
	}{
		{"short run, lone intervals", intervals(10, 2, 5, 8), 0, 3, true},
		{"short run, a run of two", intervals(10, 2, 3), 1, 2, true},
		{"long run, lone intervals", intervals(maxMarkers+10, 3, 50, 100), 0, 3, false},
		{"long run, a run of three and a lone one", intervals(maxMarkers+10, 3, 4, 5, 100), 1, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svg := latencyOverTimeSVG(&Summary{Intervals: tc.ivs})
			for _, class := range []string{"p50", "p90", "p99"} {
				assert.Equal(t, tc.lines, strings.Count(svg, `<polyline class="`+class+`"`), "%s lines", class)
				assert.Equal(t, tc.points, strings.Count(svg, `<circle class="`+class+`"`), "%s points", class)
			}
			assert.Equal(t, tc.markersExpected, strings.Contains(svg, "<title>p50 at "))
		})
	}
}
