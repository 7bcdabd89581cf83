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

// Histogram tags: the whole session's latency first, then one per phase.
const (
	tagSession = 0
	numTags    = 1 + int(numPhases)
)

func tagName(i int) string {
	if i == tagSession {
		return "session"
	}
	return phaseNames[i-1]
}

func tagIndex(name string) int {
	if name == "session" {
		return tagSession
	}
	if p := phaseIndex(name); p >= 0 {
		return 1 + p
	}
	return -1
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFigs) }

func recordUs(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), histMin), histMax)
	_ = h.RecordValue(us) // in range by construction
}

// interval is everything that happened in one interval of wall-clock time:
// its counts (also written to --out as JSON) and its latency histograms.
type interval struct {
	IntervalCounts
	hists [numTags]*hdrhistogram.Histogram
	from  time.Time // when the run began covering it
}

func newInterval() *interval {
	iv := &interval{}
	for i := range iv.hists {
		iv.hists[i] = newHist()
	}
	return iv
}

func (iv *interval) reset(start time.Time, length time.Duration) {
	for _, h := range iv.hists {
		h.Reset()
	}
	iv.IntervalCounts = IntervalCounts{StartMs: start.UnixMilli(), LengthMs: length.Milliseconds()}
	iv.from = start
}

func (iv *interval) end() time.Time {
	return time.UnixMilli(iv.StartMs + iv.LengthMs)
}

// recorder collects outcomes into the current interval and hands each
// interval, once over, to its sink. Intervals start on wall-clock
// multiples of their length, so runs from several machines line up when
// merged. One mutex is enough: it is held for well under a microsecond
// per session, far below the cost of a TLS handshake.
type recorder struct {
	mu       sync.Mutex
	length   time.Duration
	cur      *interval
	spare    *interval
	totals   Counts
	inflight func() int64
	onSample func(time.Duration) // test hook: every completed session's latency

	sinkMu sync.Mutex
	sink   func(*interval) error
	err    error // the sink's first error
}

func newRecorder(start time.Time, length time.Duration, inflight func() int64, sink func(*interval) error) *recorder {
	r := &recorder{length: length, cur: newInterval(), spare: newInterval(), inflight: inflight, sink: sink}
	aligned := start.Truncate(length)
	r.cur.reset(aligned, length)
	r.cur.from = start
	return r
}

func (r *recorder) started() {
	r.mu.Lock()
	r.cur.Started++
	r.mu.Unlock()
}

func (r *recorder) record(o outcome, latency time.Duration) {
	var msg string
	if o.kind != kCompleted && o.kind != kServerFail && o.kind != kInjectedFail && o.kind != kUnfinished && o.kind != kParked {
		msg = normalizeError(o.line) // outside the lock: it runs regexps
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &r.cur.IntervalCounts
	if o.resumed {
		c.Resumed++
	}
	c.Hashes += o.hashes
	var total int64
	for p := phase(0); p < o.at && p < numPhases; p++ {
		if o.phases[p] == skipped {
			continue
		}
		recordUs(r.cur.hists[1+int(p)], time.Duration(o.phases[p]))
		total += o.phases[p]
		if p == phSolve {
			c.SolveNs += o.phases[p]
		}
	}
	// Time in the phase a session ended in counts too: a session cut while
	// solving spent that time solving.
	if o.kind != kParked { // a parked session is held, not working
		total += o.partial
	}
	if o.at == phSolve && o.kind != kParked {
		c.SolveNs += o.partial
	}
	c.SessionNs += total
	for _, cc := range []*Counts{&c.Counts, &r.totals} {
		cc.add(o.kind)
	}
	switch o.kind {
	case kCompleted:
		recordUs(r.cur.hists[tagSession], latency)
		if r.onSample != nil {
			r.onSample(latency)
		}
	case kServerFail, kInjectedFail:
		c.addFailLine(o.line)
	case kUnfinished:
		c.addUnfinished(phaseNames[min(o.at, numPhases-1)])
	case kParked:
	default:
		c.addError(kindNames[o.kind], msg)
	}
}

// snapshot returns the running totals, for the progress line.
func (r *recorder) snapshot() Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.totals
}

// sampleInflight keeps the interval's peak of sessions in flight.
func (r *recorder) sampleInflight() {
	n := r.inflight()
	r.mu.Lock()
	r.cur.PeakInflight = max(r.cur.PeakInflight, n)
	r.mu.Unlock()
}

// roll closes the current interval if now is past its end (or always,
// when final) and passes it to the sink. Only one goroutine rolls at a
// time: the run's ticker, then the final flush after it stopped.
func (r *recorder) roll(now time.Time, final bool) {
	r.mu.Lock()
	if !final && now.Before(r.cur.end()) {
		r.mu.Unlock()
		return
	}
	done := r.cur
	until := done.end()
	if final && now.Before(until) {
		until = now // the last interval covers only up to now
	}
	done.CoveredMs = max(until.Sub(done.from).Milliseconds(), 1)
	next := r.spare
	r.spare = nil
	start := done.end()
	if !now.Before(start.Add(r.length)) {
		start = now.Truncate(r.length) // skipped intervals had nothing
	}
	next.reset(start, r.length)
	r.cur = next
	r.mu.Unlock()

	r.sinkMu.Lock()
	if err := r.sink(done); err != nil && r.err == nil {
		r.err = err
	}
	r.sinkMu.Unlock()
	r.mu.Lock()
	r.spare = done
	r.mu.Unlock()
}
