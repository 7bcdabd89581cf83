package tlsbridge

import (
	"crypto/tls"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startedHandshake returns an engine whose handshake holds a runner,
// suspended waiting for the client's second flight.
func startedHandshake(t *testing.T, ctx *Context, f *fixture) *harness {
	t.Helper()
	h := newHarness(t, ctx, f.clientConfig(tls.VersionTLS13))
	go func() { _ = h.client.Handshake() }()
	h.pumpUntil("server flight", func() bool {
		e := h.eng.(*engine)
		return e.hs != nil && e.hs.runner != nil && e.hs.waiting
	})
	return h
}

// burstOfHandshakes has n handshakes hold a runner at once, then cancels
// them all, so n runners go back to the pool together.
func burstOfHandshakes(t *testing.T, ctx *Context, f *fixture, n int) {
	t.Helper()
	hs := make([]*harness, n)
	for i := range hs {
		hs[i] = startedHandshake(t, ctx, f)
	}
	for _, h := range hs {
		h.eng.Close()
		h.cli.Close()
	}
}

func TestRunnerPool(t *testing.T) {
	f := newFixture(t)

	t.Run("sequential handshakes reuse one runner", func(t *testing.T) {
		ctx := f.context(t, nil)
		for range 5 {
			established(t, ctx, f.clientConfig(tls.VersionTLS13))
			assert.Equal(t, 1, ctx.idleRunnerCount())
		}
	})

	t.Run("a canceled handshake returns its runner", func(t *testing.T) {
		for _, how := range []string{"close", "release"} {
			t.Run(how, func(t *testing.T) {
				ctx := f.context(t, nil)
				h := startedHandshake(t, ctx, f)
				assert.Zero(t, ctx.idleRunnerCount(), "the runner is busy")
				if how == "close" {
					h.eng.Close()
				} else {
					h.eng.Release()
				}
				assert.Equal(t, 1, ctx.idleRunnerCount())
				assert.Equal(t, int64(1), ctx.Stats().HandshakesCanceled)
				assert.Zero(t, ctx.Stats().HandshakesInFlight)
			})
		}
	})

	t.Run("the pool is bounded and Close empties it", func(t *testing.T) {
		ctx := f.context(t, nil)
		ctx.maxIdleRunners = 2
		before := runtime.NumGoroutine()
		burstOfHandshakes(t, ctx, f, 4)
		assert.Equal(t, 2, ctx.idleRunnerCount())
		waitGoroutines(t, ctx, before)

		ctx.Close()
		assert.Zero(t, ctx.idleRunnerCount())
		waitGoroutines(t, ctx, before)

		// Engines still work after Close; their runners are not kept.
		established(t, ctx, f.clientConfig(tls.VersionTLS13))
		assert.Zero(t, ctx.idleRunnerCount())
		waitGoroutines(t, ctx, before)
	})

	t.Run("only runners idle past the timeout are ended", func(t *testing.T) {
		// The timer never fires on its own here; the test moves the clock
		// by backdating idleSince and trims by hand, so a slow machine
		// cannot change the outcome.
		ctx := f.context(t, nil)
		ctx.runnerIdleTimeout = time.Hour
		before := runtime.NumGoroutine()
		burstOfHandshakes(t, ctx, f, 3)
		require.Equal(t, 3, ctx.idleRunnerCount())
		ctx.runnersMu.Lock()
		require.NotNil(t, ctx.trimTimer, "idle runners arm the trim timer")
		for _, r := range ctx.idleRunners[:2] { // the two oldest
			r.idleSince = r.idleSince.Add(-2 * time.Hour)
		}
		ctx.runnersMu.Unlock()
		ctx.trimIdleRunners()
		assert.Equal(t, 1, ctx.idleRunnerCount())
		ctx.runnersMu.Lock()
		assert.NotNil(t, ctx.trimTimer, "re-armed for the one left")
		ctx.idleRunners[0].idleSince = ctx.idleRunners[0].idleSince.Add(-2 * time.Hour)
		ctx.runnersMu.Unlock()
		ctx.trimIdleRunners()
		assert.Zero(t, ctx.idleRunnerCount())
		ctx.runnersMu.Lock()
		assert.Nil(t, ctx.trimTimer, "nothing idle, no timer")
		ctx.runnersMu.Unlock()
		waitGoroutines(t, ctx, before)
	})

	t.Run("the trim timer fires by itself", func(t *testing.T) {
		ctx := f.context(t, nil)
		ctx.runnerIdleTimeout = 20 * time.Millisecond
		before := runtime.NumGoroutine()
		burstOfHandshakes(t, ctx, f, 3)
		require.Eventually(t, func() bool { return ctx.idleRunnerCount() == 0 }, waitLimit, 5*time.Millisecond)
		waitGoroutines(t, ctx, before)
	})

	t.Run("a runner survives a failed handshake", func(t *testing.T) {
		ctx := f.context(t, nil)
		cc := f.clientConfig(tls.VersionTLS13)
		cc.Certificates = nil
		h := newHarness(t, ctx, cc)
		_ = h.handshake()
		require.Equal(t, Failed, h.eng.State())
		assert.Equal(t, 1, ctx.idleRunnerCount())
		established(t, ctx, f.clientConfig(tls.VersionTLS13))
		assert.Equal(t, 1, ctx.idleRunnerCount())
	})
}
