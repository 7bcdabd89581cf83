package eventloop

import (
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
	readToClose(t, addr, local, "GET / HTTP/1.0\r\n\r\n")
}

// Connections that are not answered yet keep what they sent; past the
// budget the oldest of them is shed, counted by reason, and the others,
// an honest newcomer included, go on.
func TestUnansweredBytesBudget(t *testing.T) {
	h := startServer(t, func(c *Config) { c.Loops = 1; c.MaxUnansweredBytes = 32 << 10 })
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	// The oldest connection sent nothing: trimming it would free nothing.
	quiet, err := (&net.Dialer{Timeout: ioBound, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3)}}).Dial("tcp", h.addr)
	require.NoError(t, err)
	defer quiet.Close()
	require.Eventually(t, func() bool { return h.srv.Conns() == 1 }, ioBound, 5*time.Millisecond)
	// A record header announcing 16 KiB, then only part of it.
	partial := append([]byte{22, 3, 1, 0x40, 0}, make([]byte, 9000)...)
	var conns []net.Conn
	for i := range 4 { // 4 x 9005 bytes: the fourth passes 32 KiB
		d := net.Dialer{Timeout: ioBound, LocalAddr: local}
		c, err := d.Dial("tcp", h.addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write(partial)
		require.NoError(t, err)
		conns = append(conns, c)
		if i < 3 {
			// Each is held before the next comes (none is shed yet).
			require.Eventually(t, func() bool { return h.srv.Conns() == int64(i+2) }, ioBound, 5*time.Millisecond)
		}
	}
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.met.ShedCounter("unanswered_bytes")) == 1 }, ioBound, 5*time.Millisecond)
	require.NoError(t, conns[0].SetReadDeadline(time.Now().Add(ioBound)))
	_, err = io.Copy(io.Discard, conns[0])
	require.NoError(t, err, "the oldest that sent anything is closed by the server")
	require.Eventually(t, func() bool { return h.srv.Conns() == 4 }, ioBound, 5*time.Millisecond, "only it gave its place")

	p := h.dial(withCert) // a ClientHello fits beside the other three
	p.expect("HELLO")
	assert.Equal(t, 1.0, testutil.ToFloat64(h.met.ShedCounter("unanswered_bytes")))
}

func TestUnansweredBytesBudgetDefault(t *testing.T) {
	h := startServer(t, func(c *Config) { c.MaxConns = 1000 })
	assert.Equal(t, 1000*UnansweredBytesPerConn, h.srv.cfg.MaxUnansweredBytes, "a share per connection")
	_, err := New(Config{Addrs: []string{"tcp://127.0.0.1:0"}, Engines: h.tls, WorkTimeout: time.Second, OtherTimeout: time.Second,
		HandshakeTimeout: time.Second, MaxConns: 1, MaxUnansweredBytes: -1, Session: h.srv.cfg.Session})
	require.ErrorIs(t, err, ErrConfig)
}
