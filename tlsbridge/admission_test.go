package tlsbridge

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// attacker returns the i-th of n attacking source addresses, none of them
// testPeerAddr.
func attacker(i, n int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%n)})
}

// stallMany suspends n handshakes from addrs(i), oldest first.
func stallMany(t *testing.T, ts *Server, hello []byte, n int, addrs func(i int) netip.Addr) []*stalled {
	t.Helper()
	out := make([]*stalled, n)
	for i := range out {
		out[i] = stall(t, ts, hello, addrs(i))
		t.Cleanup(out[i].eng.Release)
	}
	return out
}

// TestWaitingPeerHoldsNoSlot: handshakes that wait for their peers hold no
// slot, so an honest handshake runs at once however many are stalled and
// however few slots there are.
func TestWaitingPeerHoldsNoSlot(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		stalled int
		addrs   int
	}{
		{"from many addresses", 60, 30},
		{"from one address", 40, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := f.newServer(t, func(c *Config) { c.MaxHandshakes = 1 })
			hello := clientHello(t, f.clientConfig(tls.VersionTLS13))
			st := stallMany(t, ts, hello, tc.stalled, func(i int) netip.Addr { return attacker(i, tc.addrs) })
			s := ts.Stats()
			require.Equal(t, int64(tc.stalled), s.HandshakesSuspended)
			require.Zero(t, s.HandshakesComputing)

			h := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
			go func() { _ = h.client.Handshake() }()
			h.pumpUntil("client hello", func() bool { return h.eng.(*engine).hsStarted() })
			assert.False(t, h.eng.(*engine).queuedNow(), "the honest handshake runs at once")
			h.pumpUntil("handshake", func() bool { return h.eng.State() != Handshaking })
			require.Equal(t, Established, h.eng.State(), "err %v", h.eng.Err())

			s = ts.Stats()
			assert.Zero(t, s.HandshakesWaited, "nobody waited for a slot")
			assert.Equal(t, int64(tc.stalled), s.HandshakesSuspended, "the stalled ones still wait")
			assert.Zero(t, s.HandshakesShedStalled+s.HandshakesShedAddrShare)
			for _, x := range st {
				assert.Zero(t, x.woken.Load())
			}
		})
	}
}

// TestSlotQueue: past MaxHandshakes computing at once, handshakes wait in
// FIFO order with their bytes buffered, and the owner is woken when its
// turn comes.
func TestSlotQueue(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, func(c *Config) { c.MaxHandshakes = 1 })
	// Another owner's handshake computes: the only slot is taken.
	release := ts.occupySlot()
	hs := make([]*harness, 3)
	cerrs := make([]<-chan error, 3)
	for i := range hs {
		hs[i] = newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
		cerrs[i] = async(hs[i].client.Handshake)
		h := hs[i]
		h.pumpUntil("client hello fed", func() bool { return h.eng.(*engine).hsStarted() })
		require.True(t, h.eng.(*engine).queuedNow())
	}
	s := ts.Stats()
	assert.Equal(t, int64(3), s.HandshakesQueued)
	assert.Equal(t, int64(3), s.HandshakesWaited)
	assert.Equal(t, int64(3), s.HandshakesInFlight)
	assert.Zero(t, s.HandshakesSuspended)

	release()
	select {
	case <-hs[0].wake:
	default:
		t.Fatal("the first queued owner was not woken")
	}
	// FIFO: the first runs; as it yields for the client's next flight its
	// slot goes to the second, not the third.
	hs[0].step()
	assert.True(t, hs[0].eng.(*engine).suspendedNow())
	assert.False(t, hs[1].eng.(*engine).queuedNow(), "second admitted")
	assert.True(t, hs[2].eng.(*engine).queuedNow(), "third still waits")

	// Each owner runs when it is woken or its peer sends, as loops do.
	errs := make([]error, len(hs))
	finished := make([]func() bool, len(hs))
	for i := range hs {
		finished[i] = done(cerrs[i], &errs[i])
	}
	deadline := time.Now().Add(waitLimit)
	for i := 0; ; i = (i + 1) % len(hs) {
		all := true
		for j, h := range hs {
			all = all && finished[j]() && h.eng.State() != Handshaking
		}
		if all {
			break
		}
		require.True(t, time.Now().Before(deadline), "handshakes did not finish")
		hs[i].step()
		time.Sleep(time.Millisecond)
	}
	for i, h := range hs {
		require.NoError(t, errs[i])
		require.Equal(t, Established, h.eng.State())
	}
	s = ts.Stats()
	// A client's second flight may also have to wait, for a slot granted
	// to an owner that has not run yet.
	assert.GreaterOrEqual(t, s.HandshakesWaited, int64(3))
	// At least the first two overlapped, each on its coroutine.
	assert.GreaterOrEqual(t, s.IdleCoroutines, int64(2))
	s.HandshakesWaited, s.IdleCoroutines = 0, 0
	assert.Equal(t, Stats{HandshakesOK: 3}, s)

	t.Run("a queued engine closed leaves the queue", func(t *testing.T) {
		release := ts.occupySlot()
		a := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
		go func() { _ = a.client.Handshake() }()
		a.pumpUntil("a queued", func() bool { return a.eng.(*engine).hsStarted() })
		require.Equal(t, int64(1), ts.Stats().HandshakesQueued)
		a.eng.Close()
		s := ts.Stats()
		assert.Zero(t, s.HandshakesQueued)
		assert.Zero(t, s.HandshakesInFlight)
		assert.Equal(t, int64(1), s.HandshakesCanceled)
		release()
		assert.Zero(t, ts.Stats().HandshakesComputing)
	})
}

// TestSuspendedBound: past MaxSuspendedHandshakes the handshakes that
// waited longest are shed, not the newcomers; their owners are woken and
// end them with ErrShed, and an honest handshake still completes.
func TestSuspendedBound(t *testing.T) {
	f := newFixture(t)
	const bound, extra = 8, 4
	ts := f.newServer(t, func(c *Config) { c.MaxSuspendedHandshakes, c.MaxSuspendedPerAddr = bound, bound })
	hello := clientHello(t, f.clientConfig(tls.VersionTLS13))
	st := stallMany(t, ts, hello, bound+extra, func(i int) netip.Addr { return attacker(i, 250) })

	s := ts.Stats()
	assert.Equal(t, int64(bound), s.HandshakesSuspended)
	assert.Equal(t, int64(extra), s.HandshakesShedStalled)
	for i, x := range st {
		shed := i < extra
		assert.Equal(t, shed, x.woken.Load() > 0, "stalled %d woken", i)
		// The owner answers the wake with Feed(nil).
		err := x.eng.Feed(nil)
		if shed {
			require.ErrorIs(t, err, ErrShed, "stalled %d", i)
			assert.Equal(t, Failed, x.eng.State())
			assert.ErrorIs(t, x.eng.Err(), ErrShed)
			assert.Nil(t, x.eng.(*engine).hs, "coroutine and state given back")
		} else {
			require.NoError(t, err)
			assert.Equal(t, Handshaking, x.eng.State(), "stalled %d", i)
		}
	}
	assert.Equal(t, int64(bound), ts.Stats().HandshakesInFlight)
	assert.Equal(t, extra, ts.idleCoroutineCount(), "shed handshakes' coroutines are back in the pool")

	h := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
	require.NoError(t, h.handshake())
	require.Equal(t, Established, h.eng.State(), "err %v", h.eng.Err())
	// While the honest handshake waited for its client it was the newest
	// suspended one: the oldest stalled one made room.
	s = ts.Stats()
	assert.Equal(t, int64(extra+1), s.HandshakesShedStalled)
	assert.Positive(t, st[extra].woken.Load())
	assert.Zero(t, st[extra+1].woken.Load())
	assert.Zero(t, s.HandshakesFailed, "shed handshakes are counted as shed only")
}

// TestAddrShare: one source address (an IPv6 /64) may hold at most its
// share of the suspended handshakes; past it its own longest waiting one
// is shed, and other addresses are untouched.
func TestAddrShare(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		heavy    []string // one address family's flooders, in order
		light    string   // another address
		wantShed []int    // indexes into heavy
	}{
		{"ipv4", []string{"198.51.100.7", "198.51.100.7", "198.51.100.7", "198.51.100.7", "198.51.100.7"}, "198.51.100.8", []int{0, 1}},
		{"ipv6 /64", []string{"2001:db8::1", "2001:db8::2", "2001:db8::ffff:1", "2001:db8::3", "2001:db8::4"}, "2001:db8:0:1::1", []int{0, 1}},
		{"ipv4-mapped", []string{"::ffff:198.51.100.7", "198.51.100.7", "198.51.100.7", "::ffff:198.51.100.7"}, "198.51.100.9", []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := f.newServer(t, func(c *Config) { c.MaxSuspendedHandshakes, c.MaxSuspendedPerAddr = 100, 3 })
			hello := clientHello(t, f.clientConfig(tls.VersionTLS13))
			light := stallMany(t, ts, hello, 2, func(int) netip.Addr { return netip.MustParseAddr(tc.light) })
			heavy := stallMany(t, ts, hello, len(tc.heavy), func(i int) netip.Addr { return netip.MustParseAddr(tc.heavy[i]) })
			s := ts.Stats()
			assert.Equal(t, int64(len(tc.wantShed)), s.HandshakesShedAddrShare)
			assert.Zero(t, s.HandshakesShedStalled)
			assert.Equal(t, int64(2+len(tc.heavy)-len(tc.wantShed)), s.HandshakesSuspended)
			for i, x := range heavy {
				shed := slices.Contains(tc.wantShed, i)
				err := x.eng.Feed(nil)
				if shed {
					assert.ErrorIs(t, err, ErrShed, fmt.Sprint("heavy ", i))
				} else {
					assert.NoError(t, err, fmt.Sprint("heavy ", i))
				}
			}
			for _, x := range light {
				assert.Zero(t, x.woken.Load())
				assert.NoError(t, x.eng.Feed(nil))
				assert.Equal(t, Handshaking, x.eng.State())
			}
		})
	}
}

// TestShedEngineClosedByOwner: an owner may Close a shed engine before it
// answered the wake; the handshake ends once, counted as shed only.
func TestShedEngineClosedByOwner(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, func(c *Config) { c.MaxSuspendedHandshakes, c.MaxSuspendedPerAddr = 1, 1 })
	hello := clientHello(t, f.clientConfig(tls.VersionTLS13))
	st := stallMany(t, ts, hello, 2, func(i int) netip.Addr { return attacker(i, 2) })
	require.Positive(t, st[0].woken.Load())
	st[0].eng.Close()
	assert.Equal(t, Closed, st[0].eng.State())
	s := ts.Stats()
	assert.Equal(t, int64(1), s.HandshakesShedStalled)
	assert.Zero(t, s.HandshakesCanceled)
	assert.Equal(t, int64(1), s.HandshakesInFlight)
	assert.Equal(t, int64(1), s.HandshakesSuspended)
}
