package eventloop

import "time"

// shedWindow is how often a loop re-decides whether it sheds: long enough
// to see several handshakes complete under load, short enough that a loop
// stops shedding soon after its queue has drained.
const shedWindow = 100 * time.Millisecond

// shedder decides, for one loop, whether new connections are shed at
// accept because the handshakes already accepted would make a newcomer
// wait longer than target.
//
// The wait it measures is what a client sees and what the CPU queue
// causes: the time from accept to the completed handshake, which grows
// with every handshake queued ahead for the CPU (a handshake slot, the
// loop itself, bytes the busy loop has not read yet), plus the loop's lag
// in running its tick, for the time connections sit in the kernel before
// the loop accepts them. It takes the smallest wait of a window, as CoDel does: a peer
// that is slow to answer makes one handshake slow, a queue makes them all
// slow, and a handshake stalled by its peer never completes, so it never
// counts. A loop with spare CPU therefore never sheds, however many peers
// stall.
//
// Only the loop touches it.
type shedder struct {
	target      time.Duration // shed above this wait; <= 0: never shed
	windowStart time.Time
	minWait     time.Duration // smallest wait this window; -1: none completed
	shedding    bool
	estimate    time.Duration // the wait behind the last decision
}

func newShedder(target time.Duration, now time.Time) shedder {
	return shedder{target: target, windowStart: now, minWait: -1}
}

// handshakeDone records a completed handshake that waited wait.
func (d *shedder) handshakeDone(wait time.Duration) {
	if d.minWait < 0 || wait < d.minWait {
		d.minWait = wait
	}
}

// tick re-decides once a window has passed; lag is how late the loop ran
// the tick. A window in which no handshake completed judges by the lag
// alone: a loop that keeps up with its tick has no CPU queue to speak of.
func (d *shedder) tick(now time.Time, lag time.Duration) {
	if d.target <= 0 || now.Sub(d.windowStart) < shedWindow {
		return
	}
	d.estimate = max(lag, 0)
	if d.minWait >= 0 {
		d.estimate += d.minWait
	}
	d.shedding = d.estimate > d.target
	d.windowStart, d.minWait = now, -1
}
