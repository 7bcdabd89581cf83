package tlsbridge

import (
	"iter"
	"time"
)

// coroutineIdleTimeout is how long a coroutine may wait in the pool
// unused before it is ended: a burst of handshakes leaves no goroutines
// behind for long once it is over.
const coroutineIdleTimeout = 5 * time.Second

// coroutine performs handshakes one after another (iter.Pull).
//
// Owners must not lock their goroutines to OS threads (e.g.
// gnet.WithLockOSThread): the runtime aborts when a coroutine made on a
// locked thread is resumed or ended from another, and pooled coroutines
// move between owners.
//
// A crypto/tls server handshake needs a deep stack: a fresh coroutine
// starts small and grows (copying its stack) several times during every
// handshake, and creating it costs a goroutine. A coroutine kept for the
// next handshake has its stack already grown. Idle ones wait in the
// Server's pool, suspended at the top of their loop.
type coroutine struct {
	next func() (struct{}, bool)
	stop func()
	job  *handshake // the handshake to perform when resumed from idle

	idleSince time.Time // in the pool since; guarded by Server.coroutinesMu
}

func newCoroutine() *coroutine {
	r := &coroutine{}
	r.next, r.stop = iter.Pull(r.loop)
	return r
}

// loop is the coroutine's body. Every yield hands control back to the
// engine that resumed it: inside a handshake, because crypto/tls needs
// more bytes; between handshakes, because the coroutine is idle. A yield
// that returns false (stop) ends it; that only happens while idle.
func (r *coroutine) loop(yield func(struct{}) bool) {
	for {
		h := r.job
		r.job = nil
		h.perform(yield)
		if !yield(struct{}{}) {
			return
		}
	}
}

// getCoroutine takes the most recently idle coroutine from the pool (so
// the oldest ones age out), or makes one.
func (c *Server) getCoroutine() *coroutine {
	c.coroutinesMu.Lock()
	n := len(c.idleCoroutines)
	if n == 0 {
		c.coroutinesMu.Unlock()
		return newCoroutine()
	}
	r := c.idleCoroutines[n-1]
	c.idleCoroutines[n-1] = nil
	c.idleCoroutines = c.idleCoroutines[:n-1]
	c.coroutinesMu.Unlock()
	return r
}

// putCoroutine keeps an idle coroutine for the next handshake, or ends it
// when the pool is full or closed.
func (c *Server) putCoroutine(r *coroutine) {
	c.coroutinesMu.Lock()
	if !c.coroutinesClosed && len(c.idleCoroutines) < c.maxIdleCoroutines {
		r.idleSince = time.Now()
		c.idleCoroutines = append(c.idleCoroutines, r)
		if c.trimTimer == nil {
			c.trimTimer = time.AfterFunc(c.coroutineIdleTimeout, c.trimIdleCoroutines)
		}
		c.coroutinesMu.Unlock()
		return
	}
	c.coroutinesMu.Unlock()
	r.stop()
}

// trimIdleCoroutines ends the coroutines idle for longer than the idle
// timeout and re-arms itself for the next one to age out, while any are
// left. It runs on a timer goroutine; an idle coroutine belongs to the
// pool, so ending it from here does not race with any engine.
func (c *Server) trimIdleCoroutines() {
	c.coroutinesMu.Lock()
	now := time.Now()
	old := 0
	for old < len(c.idleCoroutines) && now.Sub(c.idleCoroutines[old].idleSince) >= c.coroutineIdleTimeout {
		old++
	}
	expired := make([]*coroutine, old)
	copy(expired, c.idleCoroutines[:old])
	n := copy(c.idleCoroutines, c.idleCoroutines[old:])
	clear(c.idleCoroutines[n:])
	c.idleCoroutines = c.idleCoroutines[:n]
	if n > 0 && !c.coroutinesClosed {
		c.trimTimer = time.AfterFunc(c.coroutineIdleTimeout-now.Sub(c.idleCoroutines[0].idleSince), c.trimIdleCoroutines)
	} else {
		c.trimTimer = nil
	}
	c.coroutinesMu.Unlock()
	for _, r := range expired {
		r.stop()
	}
}

// Close ends the idle handshake coroutines and stops pooling new ones;
// call it when the Server is no longer used. Engines keep working: a
// handshake started afterwards gets a coroutine of its own that ends with
// it.
func (c *Server) Close() {
	c.coroutinesMu.Lock()
	idle := c.idleCoroutines
	c.idleCoroutines = nil
	c.coroutinesClosed = true
	if c.trimTimer != nil {
		c.trimTimer.Stop()
		c.trimTimer = nil
	}
	c.coroutinesMu.Unlock()
	for _, r := range idle {
		r.stop()
	}
}

// idleCoroutineCount is how many coroutines wait in the pool.
func (c *Server) idleCoroutineCount() int {
	c.coroutinesMu.Lock()
	defer c.coroutinesMu.Unlock()
	return len(c.idleCoroutines)
}
