package records

import (
	"path/filepath"
	"testing"
)

// BenchmarkAppend is the event-loop path, from parallel goroutines
// standing in for several loops, against a real file with the defaults.
func BenchmarkAppend(b *testing.B) {
	w, err := Open(Options{Path: filepath.Join(b.TempDir(), "records.jsonl"), MaxBackups: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := rec{Pad: "192.0.2.7:51234 completed"}
		for pb.Next() {
			r.ID++
			if err := w.Append(&r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(w.Dropped())/float64(b.N), "drops/op")
}
