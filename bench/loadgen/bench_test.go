package loadgen

import (
	"testing"
	"time"
)

// BenchmarkRecord is the per-session cost of keeping the results: one
// outcome into the interval's histograms and counts, under the lock.
func BenchmarkRecord(b *testing.B) {
	now := time.Now()
	rec := newRecorder(now, time.Hour, func() int64 { return 0 }, func(*interval) error { return nil })
	o := outcome{kind: kCompleted, at: numPhases}
	for p := range o.phases {
		o.phases[p] = int64(time.Duration(p+1) * time.Millisecond)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec.record(o, time.Duration(i%5000)*time.Microsecond)
	}
}
