package tlsbridge

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
)

// errOwnerClosed ends a handshake whose engine was closed by its owner.
var errOwnerClosed = fmt.Errorf("%w: engine closed during handshake", ErrClosed)

// handshake is one connection's crypto/tls server handshake, run as a
// coroutine.
//
// crypto/tls only knows blocking I/O, so the handshake runs in a coroutine
// (see coroutine) on the owner's goroutine: when crypto/tls reads and
// nothing is buffered, the transport yields back to the owner, and the
// owner's next Feed resumes it where it stopped. A coroutine switch is a
// direct hand-off on the same thread, so a handshake costs no scheduler
// wake-ups, futexes or eventfd writes. Everything here is the owner's;
// only adm is shared with the Server's admissions.
type handshake struct {
	e    *engine
	conn transport // what crypto/tls reads and writes
	keys keyLog    // secrets for the record layer that takes over
	adm  admission // slot and suspension bookkeeping

	// inProgress: crypto/tls's Handshake has not returned, so a Read with
	// nothing buffered waits for bytes instead of returning errWouldBlock.
	inProgress bool
	started    bool  // running on a coroutine
	waiting    bool  // suspended in Read for lack of bytes
	done       bool  // ended; the result is in res
	stop       error // set by the owner: the next Read fails with it

	co    *coroutine          // while started and not done
	yield func(struct{}) bool // suspends the handshake (inside co)
	res   hsResult
}

type hsResult struct {
	err  error
	conn *tls.Conn
	rl   *recordLayer
	peer Peer
}

func newHandshake(e *engine) *handshake {
	h := &handshake{e: e, inProgress: true}
	h.conn = transport{e: e, hs: h}
	h.adm = admission{addr: e.addr, wake: e.wakeFn}
	return h
}

// stopErr is what Read must fail with: the owner's reason to end the
// handshake, while it runs.
func (h *handshake) stopErr() error {
	if !h.inProgress {
		return nil
	}
	return h.stop
}

// waitForBytes suspends the handshake until the owner resumes it.
func (h *handshake) waitForBytes() error {
	h.waiting = true
	more := h.yield(struct{}{})
	h.waiting = false
	if !more {
		return errOwnerClosed
	}
	return h.stopErr()
}

// needsCPU reports whether the handshake has work it can do now: it has
// not started, or it waits for bytes that are now buffered.
func (h *handshake) needsCPU() bool {
	return !h.started || (h.waiting && h.conn.deliverable() > 0)
}

// run starts the handshake on a coroutine, or resumes it, until it needs
// more bytes or ends; once it has ended, the coroutine goes back to the
// pool.
func (h *handshake) run() {
	srv := h.e.srv
	if !h.started {
		h.started = true
		h.co = srv.getCoroutine()
		h.co.job = h
	}
	h.co.next()
	if h.done {
		srv.putCoroutine(h.co)
		h.co = nil
	}
}

// end stops a handshake that has not finished: it resumes it one last
// time with Read failing with err, so crypto/tls unwinds and the
// coroutine goes back to the pool.
func (h *handshake) end(err error) {
	if h.started && !h.done {
		h.stop = err
		h.run()
	}
}

// perform is the coroutine's body for one handshake: it runs crypto/tls's
// handshake and stores the result.
//
// perform's frame stays on the coroutine's stack while the handshake
// waits for its peer, below crypto/tls's frames; the GC halves a waiting
// coroutine's stack only if less than a quarter of it is in use, and a
// TLS 1.3 handshake waits just under that line. So perform keeps nothing
// but the conn and the error: making the conn and taking the result
// happen in functions of their own, not inlined.
func (h *handshake) perform(yield func(struct{}) bool) {
	h.yield = yield
	conn := h.newConn()
	h.finish(conn, conn.Handshake())
}

//go:noinline
func (h *handshake) newConn() *tls.Conn {
	return tls.Server(&h.conn, h.e.srv.outer)
}

//go:noinline
func (h *handshake) finish(conn *tls.Conn, err error) {
	h.yield = nil
	h.inProgress = false
	h.res = h.result(conn, err)
	h.keys.forget()
	h.done = true
}

func (h *handshake) result(conn *tls.Conn, err error) hsResult {
	if err != nil {
		return hsResult{err: classifyHandshakeErr(err)}
	}
	st := conn.ConnectionState()
	res := hsResult{peer: peerOf(&st), conn: conn}
	if st.Version == tls.VersionTLS13 && h.conn.recRemain == 0 {
		if rl, ok := h.keys.recordLayer(st.CipherSuite); ok {
			res.rl, res.conn = rl, nil
		}
	}
	return res
}

func peerOf(st *tls.ConnectionState) Peer {
	p := Peer{Version: st.Version, CipherSuite: st.CipherSuite, Resumed: st.DidResume, ServerName: NormalizeServerName(st.ServerName)}
	if len(st.PeerCertificates) > 0 {
		c := st.PeerCertificates[0]
		p.HasCert = true
		p.Subject = boundSubject(c.Subject.String())
		p.Fingerprint = sha256.Sum256(c.Raw)
	}
	return p
}

func classifyHandshakeErr(err error) error {
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrShed) {
		return err
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return fmt.Errorf("%w: %w", ErrNotTLS, err)
	}
	return fmt.Errorf("%w: %w", ErrHandshake, err)
}
