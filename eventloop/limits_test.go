package eventloop

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/metrics"
	"tlslpd/protocol"
	"tlslpd/statemachine"
	"tlslpd/tlsbridge"
)

// stopServer cancels Run and waits for it, returning its error.
func (h *harness) stopServer() error {
	h.t.Helper()
	h.cancel()
	select {
	case err := <-h.runErr:
		h.runErr <- err // the cleanup waits too
		return err
	case <-time.After(15 * time.Second):
		h.t.Fatal("Run did not return")
		return nil
	}
}

// expectRefused: a connection from local is closed without a byte.
func expectRefused(t *testing.T, addr string, local net.Addr) {
	t.Helper()
	assert.Zero(t, readToClose(t, addr, local, ""))
}

// readToClose dials addr from local, sends send, and reads until the
// server closes the connection; it returns how many bytes came.
func readToClose(t *testing.T, addr string, local net.Addr, send string) int64 {
	t.Helper()
	d := net.Dialer{Timeout: ioBound, LocalAddr: local}
	conn, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	if send != "" {
		_, err = io.WriteString(conn, send)
		require.NoError(t, err)
	}
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(ioBound)))
	n, err := io.Copy(io.Discard, conn)
	require.NoError(t, err, "the connection must be closed by the server, not time out")
	return n
}

func TestDrainLetsSessionsInFlightFinish(t *testing.T) {
	h := startServer(t, func(c *Config) { c.DrainTimeout = 5 * time.Second })
	p := h.dial(withCert)
	p.expect("HELLO")
	p.send("HELLOBACK")
	p.expect("WORK AUTH 8")

	stopped := make(chan error, 1)
	go func() { stopped <- h.stopServer() }()
	require.Eventually(t, h.srv.Draining, ioBound, 5*time.Millisecond)
	expectRefused(t, h.addr, nil) // new connections are turned away while draining

	// The session in flight still completes normally.
	answerToDone(t, p)
	p.send("OK")
	p.expectClosed()
	assert.Equal(t, "completed", h.record().Outcome)
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(ioBound):
		t.Fatal("Run did not return once the last session ended")
	}
}

func TestDrainTimeoutSendsShutdownFail(t *testing.T) {
	h := startServer(t, func(c *Config) { c.DrainTimeout = 300 * time.Millisecond })
	p := h.dial(withCert)
	p.expect("HELLO")
	p.send("HELLOBACK")
	p.expect("WORK AUTH 8")
	began := time.Now()
	require.NoError(t, h.stopServer())
	assert.GreaterOrEqual(t, time.Since(began), 250*time.Millisecond, "in-flight sessions get the drain timeout")
	p.expect(protocol.FailShutdown)
	p.expectClosed()
	rec := h.record()
	assert.Equal(t, "shutdown", rec.Outcome)
	assert.Equal(t, "work", rec.LastStep)
}

func TestMaxConnsPerIP(t *testing.T) {
	h := startServer(t, func(c *Config) { c.MaxConnsPerIP = 2 })
	a := h.dial(withCert)
	a.expect("HELLO")
	b := h.dial(withCert)
	b.expect("HELLO")
	expectRefused(t, h.addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	// Another source address is not affected by 127.0.0.1's cap.
	other := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	d := net.Dialer{Timeout: ioBound, LocalAddr: other}
	raw, err := d.Dial("tcp", h.addr)
	require.NoError(t, err)
	defer raw.Close()
	conn := tls.Client(raw, h.tlsConfig(withCert))
	require.NoError(t, conn.SetDeadline(time.Now().Add(ioBound)))
	c := &peer{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("HELLO")
	assert.Equal(t, 1.0, testutil.ToFloat64(h.met.RefusedCounter("max_conns_per_ip")))

	// Closing one frees its slot.
	a.conn.Close()
	require.Eventually(t, func() bool {
		h.srv.ipMu.Lock()
		defer h.srv.ipMu.Unlock()
		return h.srv.perIP[netip.MustParseAddr("127.0.0.1")] == 1
	}, ioBound, 5*time.Millisecond)
	again := h.dial(withCert)
	again.expect("HELLO")
}

// fakeConn is enough of a gnet.Conn to drive a session without a socket.
type fakeConn struct {
	gnet.Conn
	written  []byte
	buffered int
	closed   bool
	// failWrite, if set, runs on a write instead, as gnet does when the
	// socket write fails: it closes the connection (OnClose) at once.
	failWrite func()
}

func (f *fakeConn) Write(p []byte) (int, error) {
	if f.failWrite != nil {
		f.failWrite()
		return 0, net.ErrClosed
	}
	f.written = append(f.written, p...)
	return len(p), nil
}
func (f *fakeConn) OutboundBuffered() int { return f.buffered }
func (f *fakeConn) Close() error          { f.closed = true; return nil }
func (f *fakeConn) RemoteAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9} }
func (f *fakeConn) Wake(gnet.AsyncCallback) error {
	return nil
}

// fakeEngine is an established engine that records what it is given.
type fakeEngine struct {
	tlsbridge.Engine
	out    []byte
	closed bool
	plain  []byte // what Read returns next
}

func (e *fakeEngine) State() tlsbridge.State { return tlsbridge.Established }
func (e *fakeEngine) Peer() tlsbridge.Peer   { return tlsbridge.Peer{} }
func (e *fakeEngine) Read(p []byte) (int, error) {
	n := copy(p, e.plain)
	e.plain = e.plain[n:]
	return n, nil
}
func (e *fakeEngine) Feed([]byte) error    { return nil }
func (e *fakeEngine) Write(p []byte) error { e.out = append(e.out, p...); return nil }
func (e *fakeEngine) AppendOutgoing(dst []byte) []byte {
	dst = append(dst, e.out...)
	e.out = nil
	return dst
}
func (e *fakeEngine) Close()                                        { e.closed = true }
func (e *fakeEngine) Release()                                      {}
func (e *fakeEngine) Err() error                                    { return nil }
func (f fakeFactory) NewEngine(netip.Addr, func()) tlsbridge.Engine { return f.e }

type fakeFactory struct{ e *fakeEngine }

func TestOutboundBufferLimitEndsSession(t *testing.T) {
	eng := &fakeEngine{}
	srv, err := New(Config{
		Addrs: []string{"tcp://127.0.0.1:0"}, Engines: fakeFactory{eng},
		Session:     statemachine.Config{Token: testToken, RandomString: testRandom, NBits: 0},
		WorkTimeout: time.Second, OtherTimeout: time.Second, HandshakeTimeout: time.Second,
		MaxConns: 10, MaxBufferedBytes: 64,
		OnRecord: func(*Record) {},
	})
	require.NoError(t, err)
	lp := newLoop(srv, nil)
	conn := &fakeConn{}
	sess := newSession(srv, lp, conn, netip.MustParseAddr("127.0.0.1"), srv.listeners[0])

	sess.onTraffic(nil) // established: HELLO goes out, well under the cap
	assert.Equal(t, "HELLO\n", string(conn.written))
	assert.False(t, conn.closed)

	conn.buffered = 65 // the peer stopped reading
	sess.handle(statemachine.Event{Kind: statemachine.EventLine, Line: []byte("HELLOBACK")})
	sess.flush()
	assert.True(t, conn.closed)
	assert.True(t, sess.ended)
	assert.Equal(t, statemachine.OutcomeTransportError, sess.m.Outcome())
	assert.Zero(t, lp.wheel.Len(), "no timer may stay armed for a closed session")
}

func (e *fakeEngine) Park() {}

// A socket write that fails makes gnet close the connection inside the
// write, so OnClose frees the session under callers still running: the
// session must end once, with one record, and touch nothing freed.
func TestFailedWriteClosesTheSessionUnderItsCaller(t *testing.T) {
	eng := &fakeEngine{}
	var records []Record
	srv, err := New(Config{
		Addrs: []string{"tcp://127.0.0.1:0"}, Engines: fakeFactory{eng},
		Session:     statemachine.Config{Token: testToken, RandomString: testRandom, NBits: 0},
		WorkTimeout: time.Second, OtherTimeout: time.Second, HandshakeTimeout: time.Second,
		MaxConns: 10,
		OnRecord: func(r *Record) { records = append(records, *r) },
	})
	require.NoError(t, err)
	lp := newLoop(srv, nil)
	conn := &fakeConn{}
	sess := newSession(srv, lp, conn, netip.MustParseAddr("127.0.0.1"), srv.listeners[0])
	sess.onTraffic(nil) // HELLO goes out
	require.Equal(t, "HELLO\n", string(conn.written))

	conn.failWrite = sess.onClosed // the peer is gone: writing FAIL fails
	eng.plain = []byte("NOPE\n")
	require.NotPanics(t, func() { sess.onTraffic(nil) })
	require.Len(t, records, 1)
	assert.Equal(t, "bad_helloback", records[0].Outcome)
	assert.Nil(t, sess.engine, "freed by OnClose")
	assert.Zero(t, lp.wheel.Len())
	assert.Nil(t, lp.sessions.head)
}

// Peers that connect and send nothing cannot lock others out at
// --max-conns: past a grace period the oldest of them gives its place,
// on whichever loop it is. Connections already answered never do.
func TestUnansweredConnectionsGiveWayAtMaxConns(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d loops", loops), func(t *testing.T) {
			h := startServer(t, func(c *Config) {
				c.MaxConns = 3
				c.Loops = loops
			})
			var silent []net.Conn
			for range 3 {
				conn, err := net.Dial("tcp", h.addr)
				require.NoError(t, err)
				t.Cleanup(func() { conn.Close() })
				silent = append(silent, conn)
			}
			require.Eventually(t, func() bool { return h.srv.Conns() == 3 }, ioBound, 5*time.Millisecond)
			expectRefused(t, h.addr, nil) // within the grace period, the newcomer is refused
			time.Sleep(unansweredGrace + 100*time.Millisecond)

			// closedSilent counts the silent connections the server closed.
			closedSilent := func() int {
				n := 0
				for _, c := range silent {
					_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
					if _, err := c.Read(make([]byte, 1)); err != nil {
						var ne net.Error
						if !(asNetErr(err, &ne) && ne.Timeout()) {
							n++
						}
					}
				}
				return n
			}
			var served []*peer
			for i := range 3 {
				// A newcomer on a loop holding no silent connection may be
				// refused while another loop makes room: it retries.
				var p *peer
				require.Eventually(t, func() bool {
					q, err := h.dialAs(&recorder{}, h.tlsConfig(withCert))
					if err != nil {
						return false
					}
					line, err := q.r.ReadString('\n')
					if err != nil || line != "HELLO\n" {
						q.conn.Close()
						return false
					}
					p = q
					return true
				}, ioBound, 20*time.Millisecond, "newcomer %d", i)
				t.Cleanup(func() { p.conn.Close() })
				served = append(served, p)
				require.Eventually(t, func() bool { return closedSilent() == i+1 }, ioBound, 10*time.Millisecond)
			}
			expectRefused(t, h.addr, nil) // three answered sessions: nothing gives way
			served[0].send("HELLOBACK")
			served[0].expect("WORK AUTH 8")
			assert.Equal(t, 3.0, testutil.ToFloat64(h.met.ShedCounter(metrics.ShedUnansweredAtCapacity)))
		})
	}
}

// A rolling restart on one host: the new process shares the port
// (ReusePort) and the old one drains. While it drains, every new
// connection must reach the new process, none refused by the old one.
func TestDrainingHandsNewConnectionsToTheProcessSharingThePort(t *testing.T) {
	old := startServer(t, func(c *Config) {
		c.ReusePort = true
		c.DrainTimeout = ioBound
	})
	_, port, err := net.SplitHostPort(old.addr)
	require.NoError(t, err)
	next := startServer(t, func(c *Config) {
		c.ReusePort = true
		c.Addrs = []string{"tcp://127.0.0.1:" + port}
	})
	require.Equal(t, old.addr, next.addr)

	// The two have certificates of their own: a connection that lands on
	// the other one fails verification. Keep one session on the old one,
	// so that it drains.
	var held *peer
	require.Eventually(t, func() bool {
		p, err := old.dialAs(&recorder{}, old.tlsConfig(withCert))
		if err != nil {
			return false
		}
		if line, err := p.r.ReadString('\n'); err != nil || line != "HELLO\n" {
			p.conn.Close()
			return false
		}
		held = p
		return true
	}, ioBound, time.Millisecond)
	held.t = t
	t.Cleanup(func() { held.conn.Close() })
	stopped := make(chan error, 1)
	go func() { stopped <- old.stopServer() }()
	require.Eventually(t, old.srv.Draining, ioBound, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // the listeners are detached right after

	for range 20 {
		p := next.dial(withCert)
		p.expect("HELLO")
		p.conn.Close()
	}
	assert.Zero(t, testutil.ToFloat64(old.met.RefusedCounter(metrics.RefusedDraining)), "no newcomer was refused by the draining process")

	held.send("HELLOBACK") // the session in flight still completes its step
	held.expect("WORK AUTH 8")
	held.conn.Close()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(2 * ioBound):
		t.Fatal("the old server did not stop")
	}
}

// A Go map keeps the buckets it grew to: the per-address counts are
// copied into a small map once the addresses fall to a quarter of a large
// peak, keeping every count.
func TestPerIPMapShrinksAfterAPeak(t *testing.T) {
	s := &Server{cfg: Config{MaxConnsPerIP: 1}, perIP: map[netip.Addr]int32{}}
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	const peak = 4 * perIPShrinkFloor
	for i := range peak {
		require.True(t, s.admitIP(addr(i)))
	}
	require.Equal(t, peak, s.perIPPeak)
	for i := range peak - peak/4 {
		s.releaseIP(addr(i))
	}
	assert.Equal(t, peak/4, len(s.perIP))
	assert.Equal(t, peak/4, s.perIPPeak, "rebuilt at a quarter of the peak")
	assert.False(t, s.admitIP(addr(peak-1)), "a remaining address keeps its count (cap 1)")
	assert.True(t, s.admitIP(addr(0)), "a released address is free")
	for i := peak - peak/4; i < peak; i++ {
		s.releaseIP(addr(i))
	}
	s.releaseIP(addr(0))
	assert.Empty(t, s.perIP)
}
