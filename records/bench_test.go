package records

import (
	"path/filepath"
	"testing"
	"time"
)

// benchWriter writes to a real file with production defaults, so the
// flusher competes with the appenders as it does in the daemon.
func benchWriter(b *testing.B) *Writer {
	b.Helper()
	w, err := Open(Options{Path: filepath.Join(b.TempDir(), "records.jsonl"), MaxBackups: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := w.Close(); err != nil {
			b.Error(err)
		}
	})
	return w
}

func report(b *testing.B, w *Writer) {
	b.Helper()
	b.StopTimer()
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(w.Dropped())/float64(b.N), "drops/op")
}

// BenchmarkAppend is the event-loop path with encoding/json, from parallel
// goroutines standing in for several loops.
func BenchmarkAppend(b *testing.B) {
	w := benchWriter(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := sample(1, 0)
		r.Start = time.Now()
		for pb.Next() {
			r.ID++
			if err := w.Append(&r); err != nil && err != ErrDropped {
				b.Error(err)
				return
			}
		}
	})
	report(b, w)
}

// BenchmarkAppendFunc is the allocation-free path with a hand-written
// encoder.
func BenchmarkAppendFunc(b *testing.B) {
	w := benchWriter(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := sample(1, 0)
		r.Start = time.Now()
		for pb.Next() {
			r.ID++
			if err := w.AppendFunc(r.appendJSON); err != nil && err != ErrDropped {
				b.Error(err)
				return
			}
		}
	})
	report(b, w)
}
