package tlsbridge

import (
	"iter"
	"time"
)

// runnerIdleTimeout is how long a runner may wait in the pool unused
// before it is ended: a burst of handshakes leaves no goroutines behind
// for long once it is over.
const runnerIdleTimeout = 5 * time.Second

// hsRunner is a coroutine that performs handshakes one after another.
//
// A crypto/tls server handshake needs a deep stack: a fresh coroutine
// starts small and grows (copying its stack) several times during every
// handshake, and creating it costs a goroutine. A runner kept for the
// next handshake has its stack already grown. Idle runners wait in the
// Server's pool, suspended at the top of their loop.
type hsRunner struct {
	next func() (struct{}, bool)
	stop func()
	job  *hsConn // the handshake to run when resumed from idle

	idleSince time.Time // in the pool since; guarded by Server.runnersMu
}

func newRunner() *hsRunner {
	r := &hsRunner{}
	r.next, r.stop = iter.Pull(r.loop)
	return r
}

// loop is the coroutine's body. Every yield hands control back to the
// engine that resumed it: inside a handshake, because crypto/tls needs
// more bytes; between handshakes, because the runner is idle. A yield that
// returns false (stop) ends the runner; it only happens while idle.
func (r *hsRunner) loop(yield func(struct{}) bool) {
	for {
		h := r.job
		r.job = nil
		h.run(yield)
		if !yield(struct{}{}) {
			return
		}
	}
}

// getRunner takes the most recently idle runner from the pool (so the
// oldest ones age out), or makes one.
func (c *Server) getRunner() *hsRunner {
	c.runnersMu.Lock()
	n := len(c.idleRunners)
	if n == 0 {
		c.runnersMu.Unlock()
		return newRunner()
	}
	r := c.idleRunners[n-1]
	c.idleRunners[n-1] = nil
	c.idleRunners = c.idleRunners[:n-1]
	c.runnersMu.Unlock()
	return r
}

// putRunner keeps an idle runner for the next handshake, or ends it when
// the pool is full or closed.
func (c *Server) putRunner(r *hsRunner) {
	c.runnersMu.Lock()
	if !c.runnersClosed && len(c.idleRunners) < c.maxIdleRunners {
		r.idleSince = time.Now()
		c.idleRunners = append(c.idleRunners, r)
		if c.trimTimer == nil {
			c.trimTimer = time.AfterFunc(c.runnerIdleTimeout, c.trimIdleRunners)
		}
		c.runnersMu.Unlock()
		return
	}
	c.runnersMu.Unlock()
	r.stop()
}

// trimIdleRunners ends the runners idle for longer than the idle timeout
// and re-arms itself for the next one to age out, while any are left. It
// runs on a timer goroutine; an idle runner belongs to the pool, so ending
// it from here does not race with any engine.
func (c *Server) trimIdleRunners() {
	c.runnersMu.Lock()
	now := time.Now()
	old := 0
	for old < len(c.idleRunners) && now.Sub(c.idleRunners[old].idleSince) >= c.runnerIdleTimeout {
		old++
	}
	expired := make([]*hsRunner, old)
	copy(expired, c.idleRunners[:old])
	n := copy(c.idleRunners, c.idleRunners[old:])
	clear(c.idleRunners[n:])
	c.idleRunners = c.idleRunners[:n]
	if n > 0 && !c.runnersClosed {
		c.trimTimer = time.AfterFunc(c.runnerIdleTimeout-now.Sub(c.idleRunners[0].idleSince), c.trimIdleRunners)
	} else {
		c.trimTimer = nil
	}
	c.runnersMu.Unlock()
	for _, r := range expired {
		r.stop()
	}
}

// Close ends the idle handshake runners and stops pooling new ones; call
// it when the Server is no longer used. Engines keep working: a
// handshake started afterwards gets a runner of its own that ends with
// it.
func (c *Server) Close() {
	c.runnersMu.Lock()
	idle := c.idleRunners
	c.idleRunners = nil
	c.runnersClosed = true
	if c.trimTimer != nil {
		c.trimTimer.Stop()
		c.trimTimer = nil
	}
	c.runnersMu.Unlock()
	for _, r := range idle {
		r.stop()
	}
}

// idleRunnerCount is how many runners wait in the pool.
func (c *Server) idleRunnerCount() int {
	c.runnersMu.Lock()
	defer c.runnersMu.Unlock()
	return len(c.idleRunners)
}
