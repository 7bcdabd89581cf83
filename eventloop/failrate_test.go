package eventloop

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// setClock makes b's clock read at (Unix ns), for tests.
func (b *failBudget) setClock(at *atomic.Int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = at.Load
}

func TestFailBudget(t *testing.T) {
	second := int64(time.Second)
	a := netip.MustParseAddr("192.0.2.1")
	other := netip.MustParseAddr("192.0.2.2")
	tests := []struct {
		name string
		run  func(t *testing.T, b *failBudget, now *atomic.Int64)
	}{
		{"a burst of failures, then one per interval", func(t *testing.T, b *failBudget, now *atomic.Int64) {
			for i := range 2 * FailedHandshakeBurst { // 2/s: a burst of 40
				require.True(t, b.admits(a), "failure %d is inside the burst", i)
				b.spend(a)
			}
			assert.False(t, b.admits(a), "the burst is spent")
			assert.True(t, b.admits(other), "another address keeps its own budget")
			now.Add(second / 2)
			assert.True(t, b.admits(a), "a token came back")
			b.spend(a)
			assert.False(t, b.admits(a))
		}},
		{"failures past the burst do not prolong the refusal beyond a burst's time", func(t *testing.T, b *failBudget, now *atomic.Int64) {
			for range 10 * FailedHandshakeBurst {
				b.spend(a) // handshakes accepted earlier, failing late
			}
			assert.False(t, b.admits(a))
			now.Add(second / 2)
			assert.True(t, b.admits(a), "debt is capped at the burst")
		}},
		{"a full bucket is forgotten", func(t *testing.T, b *failBudget, now *atomic.Int64) {
			b.spend(a)
			assert.EqualValues(t, 1, b.n.Load())
			now.Add(FailedHandshakeBurst * second)
			assert.True(t, b.admits(a))
			assert.Zero(t, b.n.Load(), "an address with a full bucket costs nothing")
		}},
		{"an IPv6 /64 is one address, an IPv4-mapped address is IPv4", func(t *testing.T, b *failBudget, now *atomic.Int64) {
			for range 2 * FailedHandshakeBurst {
				b.spend(netip.MustParseAddr("2001:db8:1:2::1"))
				b.spend(netip.MustParseAddr("::ffff:192.0.2.9"))
			}
			assert.False(t, b.admits(netip.MustParseAddr("2001:db8:1:2:ffff::7")))
			assert.True(t, b.admits(netip.MustParseAddr("2001:db8:1:3::1")))
			assert.False(t, b.admits(netip.MustParseAddr("192.0.2.9")))
		}},
		{"the map is bounded", func(t *testing.T, b *failBudget, now *atomic.Int64) {
			for i := range maxFailAddrs + 100 {
				b.spend(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
			}
			assert.LessOrEqual(t, int(b.n.Load()), maxFailAddrs)
			assert.Positive(t, b.n.Load())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newFailBudget(2)
			var now atomic.Int64
			now.Store(int64(1_000 * time.Second))
			b.setClock(&now)
			tc.run(t, b, &now)
		})
	}
	off := newFailBudget(0)
	for range 1000 {
		off.spend(a)
	}
	assert.True(t, off.admits(a), "a rate of 0 is off")
	assert.Zero(t, off.n.Load())
}

func TestFailBudgetAllocatesNothingForAdmittedAddresses(t *testing.T) {
	b := newFailBudget(2)
	a, other := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	b.spend(other) // the map is in use: admits takes the lock
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = b.admits(a) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { b.spend(other) }))
}

// Connections from an address whose handshakes fail are refused at
// accept once its burst is spent, counted by reason; an address whose
// handshakes complete is never refused, however many it opens.
func TestFailedHandshakesPerIP(t *testing.T) {
	// 0.1/s: a burst of 2, and a token back only after 10 s (the clock
	// is frozen anyway).
	h := startServer(t, func(c *Config) { c.FailedHandshakesPerIP = 0.1 })
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	h.srv.fails.setClock(&now)
	bad := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	for i := range 2 {
		notTLS(t, h.addr, bad)
		require.Eventually(t, func() bool {
			return testutil.ToFloat64(h.met.HandshakeCounter("not_tls")) == float64(i+1)
		}, ioBound, 5*time.Millisecond)
	}
	assert.Zero(t, testutil.ToFloat64(h.met.RefusedCounter("failed_handshakes")))
	expectRefused(t, h.addr, bad)
	assert.Equal(t, 1.0, testutil.ToFloat64(h.met.RefusedCounter("failed_handshakes")))
	assert.Equal(t, 2.0, testutil.ToFloat64(h.met.HandshakeCounter("not_tls")), "the refused connection never reached a handshake")

	for range 5 { // more than the burst, from 127.0.0.1
		p := h.dial(withCert)
		p.expect("HELLO")
		require.NoError(t, p.conn.Close())
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(h.met.RefusedCounter("failed_handshakes")), "completed handshakes cost nothing")

	now.Add(int64(10 * time.Second))
	notTLS(t, h.addr, bad) // a token came back
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.met.HandshakeCounter("not_tls")) == 3 }, ioBound, 5*time.Millisecond)
}

// notTLS opens a connection from local that sends a line instead of a
// ClientHello, and waits for the server to close it.
func notTLS(t *testing.T, addr string, local net.Addr) {
	t.Helper()
	d := net.Dialer{Timeout: ioBound, LocalAddr: local}
	conn, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(ioBound)))
	_, err = io.Copy(io.Discard, conn)
	require.NoError(t, err, "the server closes a peer that does not speak TLS")
}
