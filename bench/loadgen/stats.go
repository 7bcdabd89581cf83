package loadgen

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1 µs to one hour with three
// significant digits: enough for a session that waits out a work timeout.
const (
	histMin     = 1
	histMax     = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

// stats collects outcomes from all sessions. One mutex is enough: even at
// tens of thousands of sessions/s it is held for well under a microsecond
// per session, far below the cost of a TLS handshake.
type stats struct {
	mu        sync.Mutex
	start     time.Time
	hist      *hdrhistogram.Histogram
	counts    Counts
	failLines map[string]uint64
	samples   map[string]string
	resumed   uint64
	perSecond []Second
}

func newStats(start time.Time) *stats {
	return &stats{
		start:     start,
		hist:      hdrhistogram.New(histMin, histMax, histSigFigs),
		failLines: map[string]uint64{},
		samples:   map[string]string{},
	}
}

func (s *stats) record(o outcome, latency time.Duration, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.resumed {
		s.resumed++
	}
	sec := int(now.Sub(s.start) / time.Second)
	if sec < 0 {
		sec = 0
	}
	for len(s.perSecond) <= sec {
		s.perSecond = append(s.perSecond, Second{Second: len(s.perSecond)})
	}
	switch o.kind {
	case kCompleted:
		s.perSecond[sec].Completed++
	case kInjectedFail:
		s.perSecond[sec].Injected++
	case kAborted, kParked:
	default:
		s.perSecond[sec].Failed++
	}
	switch o.kind {
	case kCompleted:
		s.counts.Completed++
		us := latency.Microseconds()
		if us < histMin {
			us = histMin
		}
		if us > histMax {
			us = histMax
		}
		_ = s.hist.RecordValue(us) // in range by construction
	case kServerFail:
		s.counts.ServerFail++
		s.failLines[o.line]++
	case kInjectedFail:
		s.counts.InjectedFail++
		s.failLines[o.line]++
	case kTLS:
		s.counts.TLSErrors++
		s.sample("tls", o.line)
	case kTimeout:
		s.counts.Timeouts++
		s.sample("timeout", o.line)
	case kConnect:
		s.counts.ConnectErrors++
		s.sample("connect", o.line)
	case kProtocol:
		s.counts.ProtocolErrors++
		s.sample("protocol", o.line)
	case kAborted:
		s.counts.Aborted++
	}
}

func (s *stats) sample(class, msg string) {
	if _, ok := s.samples[class]; !ok && msg != "" {
		s.samples[class] = msg
	}
}

// snapshot returns counts for the progress line.
func (s *stats) snapshot() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// fill copies the collected data into sum.
func (s *stats) fill(sum *Summary, elapsed time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum.Counts = s.counts
	sum.Resumed = s.resumed
	sum.FailLines = make(map[string]uint64, len(s.failLines))
	for k, v := range s.failLines {
		sum.FailLines[k] = v
	}
	if len(s.samples) > 0 {
		sum.ErrorSamples = make(map[string]string, len(s.samples))
		for k, v := range s.samples {
			sum.ErrorSamples[k] = v
		}
	}
	sum.PerSecond = append([]Second{}, s.perSecond...)
	sum.DurationSeconds = elapsed.Seconds()
	sum.Sessions = s.counts.Total()
	if elapsed > 0 {
		sum.SessionsPerSecond = float64(sum.Sessions) / elapsed.Seconds()
		sum.CompletedPerSecond = float64(s.counts.Completed) / elapsed.Seconds()
	}
	h := s.hist
	if n := h.TotalCount(); n > 0 {
		toMs := func(us int64) float64 { return float64(us) / 1000 }
		sum.Latency = Latency{
			Count: uint64(n),
			Min:   toMs(h.Min()),
			Mean:  h.Mean() / 1000,
			P50:   toMs(h.ValueAtQuantile(50)),
			P90:   toMs(h.ValueAtQuantile(90)),
			P99:   toMs(h.ValueAtQuantile(99)),
			P999:  toMs(h.ValueAtQuantile(99.9)),
			Max:   toMs(h.Max()),
		}
		sum.Spectrum = spectrum(h)
	}
}

func spectrum(h *hdrhistogram.Histogram) []SpectrumPoint {
	// Denser toward the tail, where the interesting behaviour is.
	spectrumPercentiles := [...]float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}
	pts := make([]SpectrumPoint, 0, len(spectrumPercentiles))
	for _, p := range spectrumPercentiles {
		v := h.ValueAtQuantile(p)
		if p == 0 {
			v = h.Min()
		}
		pts = append(pts, SpectrumPoint{Percentile: p, Ms: float64(v) / 1000})
	}
	return pts
}
