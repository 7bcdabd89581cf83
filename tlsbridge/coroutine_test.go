package tlsbridge

import (
	"crypto/tls"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startedHandshake returns an engine whose handshake holds a coroutine,
// suspended waiting for the client's second flight.
func startedHandshake(t *testing.T, ts *Server, f *fixture) *harness {
	t.Helper()
	h := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
	go func() { _ = h.client.Handshake() }()
	h.pumpUntil("server flight", func() bool {
		e := h.eng.(*engine)
		return e.hs != nil && e.hs.co != nil && e.hs.waiting
	})
	return h
}

// burstOfHandshakes has n handshakes hold a coroutine at once, then cancels
// them all, so n coroutines go back to the pool together.
func burstOfHandshakes(t *testing.T, ts *Server, f *fixture, n int) {
	t.Helper()
	hs := make([]*harness, n)
	for i := range hs {
		hs[i] = startedHandshake(t, ts, f)
	}
	for _, h := range hs {
		h.eng.Close()
		h.cli.Close()
	}
}

func TestCoroutinePool(t *testing.T) {
	f := newFixture(t)

	t.Run("sequential handshakes reuse one coroutine", func(t *testing.T) {
		ts := f.newServer(t, nil)
		for range 5 {
			established(t, ts, f.clientConfig(tls.VersionTLS13))
			assert.Equal(t, 1, ts.idleCoroutineCount())
		}
	})

	t.Run("a canceled handshake returns its coroutine", func(t *testing.T) {
		for _, how := range []string{"close", "release"} {
			t.Run(how, func(t *testing.T) {
				ts := f.newServer(t, nil)
				h := startedHandshake(t, ts, f)
				assert.Zero(t, ts.idleCoroutineCount(), "the coroutine is busy")
				if how == "close" {
					h.eng.Close()
				} else {
					h.eng.Release()
				}
				assert.Equal(t, 1, ts.idleCoroutineCount())
				assert.Equal(t, int64(1), ts.Stats().HandshakesCanceled)
				assert.Zero(t, ts.Stats().HandshakesInFlight)
			})
		}
	})

	t.Run("the pool is bounded and Close empties it", func(t *testing.T) {
		ts := f.newServer(t, nil)
		ts.maxIdleCoroutines = 2
		before := runtime.NumGoroutine()
		burstOfHandshakes(t, ts, f, 4)
		assert.Equal(t, 2, ts.idleCoroutineCount())
		waitGoroutines(t, ts, before)

		ts.Close()
		assert.Zero(t, ts.idleCoroutineCount())
		waitGoroutines(t, ts, before)

		// Engines still work after Close; their coroutines are not kept.
		established(t, ts, f.clientConfig(tls.VersionTLS13))
		assert.Zero(t, ts.idleCoroutineCount())
		waitGoroutines(t, ts, before)
	})

	t.Run("only coroutines idle past the timeout are ended", func(t *testing.T) {
		// The timer never fires on its own here; the test moves the clock
		// by backdating idleSince and trims by hand, so a slow machine
		// cannot change the outcome.
		ts := f.newServer(t, nil)
		ts.coroutineIdleTimeout = time.Hour
		before := runtime.NumGoroutine()
		burstOfHandshakes(t, ts, f, 3)
		require.Equal(t, 3, ts.idleCoroutineCount())
		ts.coroutinesMu.Lock()
		require.NotNil(t, ts.trimTimer, "idle coroutines arm the trim timer")
		for _, r := range ts.idleCoroutines[:2] { // the two oldest
			r.idleSince = r.idleSince.Add(-2 * time.Hour)
		}
		ts.coroutinesMu.Unlock()
		ts.trimIdleCoroutines()
		assert.Equal(t, 1, ts.idleCoroutineCount())
		ts.coroutinesMu.Lock()
		assert.NotNil(t, ts.trimTimer, "re-armed for the one left")
		ts.idleCoroutines[0].idleSince = ts.idleCoroutines[0].idleSince.Add(-2 * time.Hour)
		ts.coroutinesMu.Unlock()
		ts.trimIdleCoroutines()
		assert.Zero(t, ts.idleCoroutineCount())
		ts.coroutinesMu.Lock()
		assert.Nil(t, ts.trimTimer, "nothing idle, no timer")
		ts.coroutinesMu.Unlock()
		waitGoroutines(t, ts, before)
	})

	t.Run("the trim timer fires by itself", func(t *testing.T) {
		ts := f.newServer(t, nil)
		ts.coroutineIdleTimeout = 20 * time.Millisecond
		before := runtime.NumGoroutine()
		burstOfHandshakes(t, ts, f, 3)
		require.Eventually(t, func() bool { return ts.idleCoroutineCount() == 0 }, waitLimit, 5*time.Millisecond)
		waitGoroutines(t, ts, before)
	})

	t.Run("a coroutine survives a failed handshake", func(t *testing.T) {
		ts := f.newServer(t, nil)
		cc := f.clientConfig(tls.VersionTLS13)
		cc.Certificates = nil
		h := newHarness(t, ts, cc)
		_ = h.handshake()
		require.Equal(t, Failed, h.eng.State())
		assert.Equal(t, 1, ts.idleCoroutineCount())
		established(t, ts, f.clientConfig(tls.VersionTLS13))
		assert.Equal(t, 1, ts.idleCoroutineCount())
	})
}
