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
)

// burstReturn tracks the connection peak; only the ticker goroutine
// touches it but running, which the release goroutine clears.
type burstReturn struct {
	peak         int64
	drainedSince time.Time
	running      atomic.Bool
	// release returns memory to the OS; returnMemory unless a test says
	// otherwise.
	release func()
	// released counts releases, for tests and the log.
	released atomic.Int64
}

// observe looks at the open connections now; once a burst has drained it
// returns the memory on a goroutine of its own (a forced GC takes a while
// and must not hold up the ticks) and starts watching for the next one.
// It reports the peak of a burst it acts on, 0 otherwise.
func (b *burstReturn) observe(conns int64, now time.Time) (peak int64) {
	if conns > b.peak {
		b.peak = conns
	}
	if b.peak < burstMinConns || conns*burstDrainedShare > b.peak {
		b.drainedSince = time.Time{}
		return 0
	}
	if b.drainedSince.IsZero() {
		b.drainedSince = now
	}
	if now.Sub(b.drainedSince) < burstQuiet || !b.running.CompareAndSwap(false, true) {
		return 0
	}
	peak = b.peak
	b.peak, b.drainedSince = conns, time.Time{}
	release := b.release
	if release == nil {
		release = returnMemory
	}
	go func() {
		defer b.running.Store(false)
		release()
		b.released.Add(1)
	}()
	return peak
}

// returnMemory collects twice, so that what sync.Pools held through the
// first collection (their victim caches: gnet's and TLS buffers) is freed
// by the second, which FreeOSMemory runs before returning every free page.
func returnMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
