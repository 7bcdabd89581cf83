package tlsbridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tlslpd/certs"
)

// testPeerAddr is the source address harness engines are made for.
var testPeerAddr = netip.MustParseAddr("192.0.2.1")

// waitLimit bounds every wait so a broken engine fails a test instead of
// hanging it.
const waitLimit = 10 * time.Second

// fixture is a freshly generated PKI with the TLS material tests need.
type fixture struct {
	pki        *certs.PKI
	serverCert tls.Certificate
	client     tls.Certificate
	leaf       *x509.Certificate
	pool       *x509.CertPool
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	srv, err := pki.Server.TLS()
	require.NoError(t, err)
	cli, err := pki.Client.TLS()
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(cli.Certificate[0])
	require.NoError(t, err)
	return &fixture{pki: pki, serverCert: srv, client: cli, leaf: leaf, pool: pki.CertPool()}
}

func (f *fixture) config() Config {
	return Config{Certificate: f.serverCert, ClientCAs: f.pool}
}

// clientConfig is a crypto/tls client trusting f's CA and presenting f's
// client certificate.
func (f *fixture) clientConfig(version uint16) *tls.Config {
	return &tls.Config{
		RootCAs:      f.pool,
		ServerName:   "localhost",
		Certificates: []tls.Certificate{f.client},
		MinVersion:   version,
		MaxVersion:   version,
	}
}

func (f *fixture) newServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := f.config()
	if mutate != nil {
		mutate(&cfg)
	}
	ts, err := NewServer(cfg)
	require.NoError(t, err)
	t.Cleanup(ts.Close)
	return ts
}

// memPipe is one direction of an in-memory byte stream with unbounded
// buffering, so writers never block.
type memPipe struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	closed bool
	notify chan struct{}
}

func newMemPipe() *memPipe {
	p := &memPipe{notify: make(chan struct{}, 1)}
	p.cond.L = &p.mu
	return p
}

func (p *memPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, net.ErrClosed
	}
	p.buf = append(p.buf, b...)
	p.cond.Broadcast()
	p.mu.Unlock()
	select {
	case p.notify <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (p *memPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 {
		if p.closed {
			return 0, io.EOF
		}
		p.cond.Wait()
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = nil
	}
	return n, nil
}

func (p *memPipe) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.buf)
}

// take returns everything buffered without blocking.
func (p *memPipe) take() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.buf
	p.buf = nil
	return b
}

func (p *memPipe) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// memConn is a net.Conn over two memPipes.
type memConn struct {
	r, w *memPipe
}

func memConnPair() (a, b *memConn) {
	x, y := newMemPipe(), newMemPipe()
	return &memConn{r: x, w: y}, &memConn{r: y, w: x}
}

func (c *memConn) Read(b []byte) (int, error)         { return c.r.Read(b) }
func (c *memConn) Write(b []byte) (int, error)        { return c.w.Write(b) }
func (c *memConn) Close() error                       { c.w.close(); c.r.close(); return nil }
func (c *memConn) LocalAddr() net.Addr                { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return memAddr{} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

// harness wires a crypto/tls client to an engine. The test goroutine is
// the engine's owner: it pumps bytes between the client's conn and the
// engine; the client runs its blocking calls on other goroutines.
type harness struct {
	t      testing.TB
	eng    Engine
	wake   chan struct{}
	cli    *memConn // client's end
	srv    *memConn // owner's end: srv.r holds client→server bytes
	client *tls.Conn
	chunk  int // feed granularity; 0 feeds everything at once

	got     []byte // plaintext read from the engine
	readErr error  // first error Read returned (io.EOF included)
	feedErr error
	rbuf    []byte
	ev      chan struct{} // a client-side call finished
}

func newHarness(t testing.TB, ts *Server, cc *tls.Config) *harness {
	t.Helper()
	h := makeHarness(t, ts, cc, make(chan struct{}, 1))
	t.Cleanup(func() {
		h.eng.Release()
		h.cli.Close()
	})
	return h
}

// makeHarness is newHarness without cleanup; the engine's wake closure
// captures only the wake channel, so the engine does not pin the harness.
func makeHarness(t testing.TB, ts *Server, cc *tls.Config, wake chan struct{}) *harness {
	cli, srv := memConnPair()
	h := &harness{t: t, wake: wake, cli: cli, srv: srv, ev: make(chan struct{}, 1)}
	h.eng = ts.NewEngine(testPeerAddr, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if cc != nil {
		h.client = tls.Client(cli, cc)
	}
	return h
}

// feed hands b to the engine in h.chunk pieces, draining plaintext after
// each piece. With nothing to hand over it still calls Feed(nil), as an
// owner does when the wake function fired.
func (h *harness) feed(b []byte) {
	if len(b) == 0 {
		if err := h.eng.Feed(nil); err != nil && h.feedErr == nil {
			h.feedErr = err
		}
		h.drain()
		return
	}
	for len(b) > 0 {
		n := len(b)
		if h.chunk > 0 {
			n = min(n, h.chunk)
		}
		if err := h.eng.Feed(b[:n]); err != nil && h.feedErr == nil {
			h.feedErr = err
		}
		b = b[n:]
		h.drain()
	}
}

func (h *harness) drain() {
	if h.rbuf == nil {
		h.rbuf = make([]byte, 64<<10)
	}
	for h.readErr == nil {
		n, err := h.eng.Read(h.rbuf)
		h.got = append(h.got, h.rbuf[:n]...)
		if err != nil {
			h.readErr = err
			return
		}
		if n == 0 {
			return
		}
	}
}

// flush sends the engine's outgoing bytes to the client; it closes the
// client's read side once the engine is finished so client calls end.
func (h *harness) flush() {
	if out := h.eng.AppendOutgoing(nil); len(out) > 0 {
		_, _ = h.srv.Write(out)
	}
	if s := h.eng.State(); s == Failed || s == Closed {
		h.srv.w.close()
	}
}

func (h *harness) step() {
	h.feed(h.srv.r.take())
	h.drain()
	h.flush()
}

// pumpUntil runs the owner loop until cond holds.
func (h *harness) pumpUntil(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		h.step()
		if cond() {
			return
		}
		select {
		case <-h.srv.r.notify:
		case <-h.wake:
		case <-h.ev:
		case <-tick.C:
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s (state %v, err %v)", what, h.eng.State(), h.eng.Err())
		}
	}
}

// async runs f on its own goroutine and returns its result channel.
func async(f func() error) <-chan error {
	c := make(chan error, 1)
	go func() { c <- f() }()
	return c
}

// async runs f for the client and wakes the pump when it returns.
func (h *harness) async(f func() error) <-chan error {
	c := make(chan error, 1)
	go func() {
		c <- f()
		select {
		case h.ev <- struct{}{}:
		default:
		}
	}()
	return c
}

// done reports whether c has delivered, storing the value.
func done(c <-chan error, dst *error) func() bool {
	var got bool
	return func() bool {
		if got {
			return true
		}
		select {
		case err := <-c:
			*dst, got = err, true
		default:
		}
		return got
	}
}

// handshake runs the client handshake against the engine until both sides
// are done; it returns the client's error.
func (h *harness) handshake() error {
	h.t.Helper()
	var cerr error
	cdone := done(h.async(h.client.Handshake), &cerr)
	h.pumpUntil("handshake", func() bool {
		return cdone() && h.eng.State() != Handshaking
	})
	return cerr
}

func established(t testing.TB, ts *Server, cc *tls.Config) *harness {
	t.Helper()
	h := newHarness(t, ts, cc)
	require.NoError(t, h.handshake())
	require.Equal(t, Established, h.eng.State(), "engine err: %v", h.eng.Err())
	return h
}

// clientRead reads exactly n bytes from the client while pumping.
func (h *harness) clientRead(n int) ([]byte, error) {
	h.t.Helper()
	buf := make([]byte, n)
	var err error
	rdone := done(h.async(func() error {
		_, e := io.ReadFull(h.client, buf)
		return e
	}), &err)
	h.pumpUntil("client read", rdone)
	return buf, err
}

// clientWrite writes p from the client while pumping, until the engine has
// read want bytes in total (or failed).
func (h *harness) clientWrite(p []byte, want int) error {
	h.t.Helper()
	var err error
	wdone := done(h.async(func() error {
		_, e := h.client.Write(p)
		return e
	}), &err)
	h.pumpUntil("engine read", func() bool {
		return wdone() && (len(h.got) >= want || h.readErr != nil)
	})
	return err
}

// waitGoroutines waits until the goroutine count drops to at most n plus
// the handshake coroutines idle in ts's pool.
func waitGoroutines(t testing.TB, ts *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > n+ts.idleCoroutineCount() {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d > %d + %d idle coroutines\n%s", runtime.NumGoroutine(), n, ts.idleCoroutineCount(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitStats waits until cond holds for ts's Stats.
func waitStats(t testing.TB, ts *Server, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := ts.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for stats: %s: %+v", what, s)
		}
		time.Sleep(time.Millisecond)
	}
}

func isAlert(err error) bool {
	var ae tls.AlertError
	var oe *net.OpError
	return errors.As(err, &ae) || (errors.As(err, &oe) && oe.Op == "remote error")
}
