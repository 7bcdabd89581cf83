package eventloop

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// After a burst of connections drains, the heap they used is free at once
// but the runtime hands the pages back to the OS only gradually (the
// background scavenger), so RSS stays near the burst's peak for minutes.
// burstReturn notices the drain on the ticker and returns the memory in
// one go.
const (
	// burstMinConns: a peak below this is no burst worth a forced GC.
	burstMinConns = 256
	// burstDrainedShare: the burst has drained when connections are at
	// most this share of the peak...
	burstDrainedShare = 4
	// burstQuiet: ...and have stayed there this long, so a load that only
	// dips is not collected in the middle.
	burstQuiet = 2 * time.Second
	// burstSettle: this long after a release, unless a new burst has
	// begun, memory is returned once more. What is freed after the first
	// release (the connections that were still closing, handshake
	// coroutines ending after their idle timeout, pooled buffers) would
	// otherwise stay resident: the runtime's scavenger sets its goal at a
	// collection, and an idle daemon collects only every two minutes.
	burstSettle = 10 * time.Second
)

// burstReturn tracks the connection peak; only the ticker goroutine
// touches it but running, which the release goroutine clears.
type burstReturn struct {
	peak         int64
	drainedSince time.Time
	// settleAt is when the follow-up release of the last burst is due;
	// zero when none is.
	settleAt    time.Time
	settledPeak int64 // the peak of the burst settleAt follows
	running     atomic.Bool
	// release returns memory to the OS; returnMemory unless a test says
	// otherwise.
	release func()
	// released counts releases, for tests and the log.
	released atomic.Int64
}

// observe looks at the open connections now; once a burst has drained it
// returns the memory on a goroutine of its own (a forced GC takes a while
// and must not hold up the ticks), again burstSettle later unless the
// load is back, and starts watching for the next one. It reports the peak
// of a burst it acts on (0 otherwise) and whether it acted on the
// follow-up release.
func (b *burstReturn) observe(conns int64, now time.Time) (peak int64, settled bool) {
	if conns > b.peak {
		b.peak = conns
	}
	if !b.settleAt.IsZero() {
		switch {
		case conns*burstDrainedShare > b.settledPeak:
			b.settleAt = time.Time{} // busy again: the next drain releases
		case now.Before(b.settleAt) || !b.start():
			return 0, false // the follow-up covers what drains meanwhile
		default:
			b.settleAt = time.Time{}
			b.peak, b.drainedSince = conns, time.Time{}
			return b.settledPeak, true
		}
	}
	if b.peak < burstMinConns || conns*burstDrainedShare > b.peak {
		b.drainedSince = time.Time{}
		return 0, false
	}
	if b.drainedSince.IsZero() {
		b.drainedSince = now
	}
	if now.Sub(b.drainedSince) < burstQuiet || !b.start() {
		return 0, false
	}
	peak = b.peak
	b.peak, b.drainedSince = conns, time.Time{}
	b.settleAt, b.settledPeak = now.Add(burstSettle), peak
	return peak, false
}

// start runs a release on a goroutine of its own unless one is running,
// and reports whether it did.
func (b *burstReturn) start() bool {
	if !b.running.CompareAndSwap(false, true) {
		return false
	}
	release := b.release
	if release == nil {
		release = returnMemory
	}
	go func() {
		defer b.running.Store(false)
		release()
		b.released.Add(1)
	}()
	return true
}

// returnMemory collects twice, so that what sync.Pools held through the
// first collection (their victim caches: gnet's and TLS buffers) is freed
// by the second, which FreeOSMemory runs before returning every free page.
func returnMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
