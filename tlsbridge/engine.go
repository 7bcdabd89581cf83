package tlsbridge

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
)

// engine implements Engine.
//
// Concurrency: every field is the owner's. The handshake coroutine runs on
// the owner's goroutine too, only while the owner resumes it; other
// goroutines touch nothing but the handshake's admission.
type engine struct {
	srv    *Server
	wakeFn func()
	addr   netip.Addr // the peer's source address, as AddrKey keys it

	in          *[]byte // pooled; unread ciphertext is (*in)[inOff:]
	inOff       int
	out         *[]byte    // pooled; ciphertext waiting to be sent
	hs          *handshake // from the first complete record until it ends
	ownerClosed bool
	released    bool

	state     State
	err       error
	peer      Peer
	conn      *tls.Conn    // established via tls.Conn (TLS 1.2)
	rl        *recordLayer // established via the own TLS 1.3 record layer
	plainOff  int          // decrypted, not yet returned plaintext in *in
	plainLen  int
	sentClose bool
	recvClose bool
	rates     *peerRates // records without application data, rated; made at the first
}

// NewEngine returns an engine for one connection from the source address
// addr. wake is called from other goroutines when a handshake slot came
// free for it; the owner answers with Feed(nil) on its own goroutine. It
// is never called with a lock held that the owner might need, and it may
// still run once after Close/Release, so it must tolerate a closed
// connection.
func (c *Server) NewEngine(addr netip.Addr, wake func()) Engine {
	if wake == nil {
		wake = func() {}
	}
	return &engine{srv: c, wakeFn: wake, addr: AddrKey(addr)}
}

func (e *engine) wake() { e.wakeFn() }

// --- buffers ---

func (e *engine) inLen() int {
	if e.in == nil {
		return 0
	}
	return len(*e.in) - e.inOff
}

func (e *engine) dropInIfEmpty() {
	if e.in != nil && e.inOff == len(*e.in) && e.plainLen == 0 {
		e.srv.putBuf(e.in)
		e.in, e.inOff, e.plainOff = nil, 0, 0
	}
}

func (e *engine) appendIn(b []byte) {
	if e.in == nil {
		e.in = e.srv.getBuf()
	}
	buf := *e.in
	if len(buf)+len(b) > cap(buf) {
		// Compact before growing: consumed bytes at the front are dead
		// unless they hold plaintext not yet returned.
		start := e.inOff
		if e.plainLen > 0 {
			start = e.plainOff
		}
		if start > 0 {
			n := copy(buf, buf[start:])
			buf = buf[:n]
			e.inOff -= start
			e.plainOff -= min(start, e.plainOff)
		}
	}
	*e.in = append(buf, b...)
}

// outBuf is the outgoing buffer, taken from the pool on first use.
func (e *engine) outBuf() *[]byte {
	if e.out == nil {
		e.out = e.srv.getBuf()
	}
	return e.out
}

func (e *engine) appendOut(b []byte) {
	out := e.outBuf()
	*out = append(*out, b...)
}

// --- owner-side state ---

// advanceHandshake runs the handshake as far as the buffered bytes allow:
// with a slot (admissions), it starts it or resumes it where it waits for
// bytes it now has, and takes its result once it has ended. A handshake
// the admissions shed ends here, on its owner's goroutine.
func (e *engine) advanceHandshake() {
	h := e.hs
	if h == nil {
		return
	}
	if reason := h.adm.shedReason(); reason != notShed {
		e.endHandshake(shedErr(reason))
		return
	}
	if !h.needsCPU() {
		return
	}
	if !e.srv.adm.acquire(&h.adm) {
		if reason := h.adm.shedReason(); reason != notShed {
			e.endHandshake(shedErr(reason))
		}
		return // queued: the wake function says when the slot is ours
	}
	h.run()
	if !h.done {
		e.srv.adm.suspend(&h.adm)
		return
	}
	e.srv.adm.leave(&h.adm)
	e.hs = nil
	e.srv.inFlightN.Add(-1)
	res := h.res
	h.res = hsResult{} // a TLS 1.2 tls.Conn keeps h through its transport
	switch {
	case res.err != nil:
		e.srv.failedN.Add(1)
		e.state, e.err = Failed, res.err
	default:
		e.srv.okN.Add(1)
		if res.peer.Resumed {
			e.srv.resumedN.Add(1)
		}
		e.state = Established
		e.peer = res.peer
		e.conn = res.conn
		e.rl = res.rl
	}
}

// endHandshake ends the handshake in any stage, for the owner (err wraps
// ErrClosed: the engine is Closed) or because admissions shed it (err
// wraps ErrShed: the engine Failed). The coroutine, slot and queue places
// are given back before it returns.
func (e *engine) endHandshake(err error) {
	h := e.hs
	if h == nil {
		return
	}
	e.hs = nil
	h.end(err)
	e.srv.adm.leave(&h.adm)
	e.srv.inFlightN.Add(-1)
	shed := h.adm.shedReason() != notShed // counted by reason when it was shed
	if errors.Is(err, ErrClosed) {
		if !shed {
			e.srv.canceledN.Add(1)
		}
		e.state = Closed
		return
	}
	e.fail(err)
}

func (e *engine) fail(err error) {
	e.state, e.err = Failed, err
}

// failRecord ends an established engine on a record-layer error, queueing
// the alert TLS calls for, and drops the keys.
func (e *engine) failRecord(rerr *recordError) {
	if e.rl != nil && rerr.alert != 0 {
		e.queueAlert(rerr.alert)
	}
	e.rl = nil
	e.plainLen = 0
	e.fail(rerr.err)
}

// queueAlert seals an alert with the record layer into the outgoing bytes.
func (e *engine) queueAlert(alert uint8) {
	out := e.outBuf()
	*out = e.rl.sealAlert(*out, alert)
}

// checkPrefix rejects a stream whose first bytes cannot start a TLS
// handshake record, before a handshake slot is spent on it. It returns the
// length of the first record once its header is complete, or 0.
func checkPrefix(b []byte) (int, error) {
	if len(b) >= 1 && b[0] != recordTypeHandshake {
		return 0, fmt.Errorf("%w: first byte %#02x is not a TLS handshake record", ErrNotTLS, b[0])
	}
	if len(b) >= 2 && b[1] != 3 {
		return 0, fmt.Errorf("%w: record version major %d is not 3", ErrNotTLS, b[1])
	}
	if len(b) < recordHeaderLen {
		return 0, nil
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	if n == 0 || n > maxPlaintext {
		return 0, fmt.Errorf("%w: first record length %d is out of range", ErrNotTLS, n)
	}
	return recordHeaderLen + n, nil
}

// Feed implements Engine.
func (e *engine) Feed(b []byte) error {
	switch e.state {
	case Failed:
		return e.err
	case Closed:
		if e.recvClose && !e.ownerClosed {
			return nil // after close_notify anything more is ignored
		}
		return ErrClosed
	case Established:
		if len(b) > 0 {
			e.appendIn(b)
		}
		return nil
	}
	if len(b) > 0 {
		if err := e.bufferHandshakeInput(b); err != nil {
			return err
		}
	}
	e.advanceHandshake()
	if e.state == Failed {
		return e.err
	}
	return nil
}

// bufferHandshakeInput keeps b for the handshake, and begins the handshake
// once the first record is complete.
func (e *engine) bufferHandshakeInput(b []byte) error {
	if e.inLen()+len(b) > maxHandshakeInput {
		e.Close()
		e.fail(fmt.Errorf("%w: more than %d bytes buffered during the handshake", ErrHandshake, maxHandshakeInput))
		return e.err
	}
	e.appendIn(b)
	if e.hs != nil {
		return nil
	}
	// Nothing has been consumed yet: the buffer is the stream's start.
	n, err := checkPrefix((*e.in)[e.inOff:])
	if err != nil {
		e.fail(err)
		e.srv.failedN.Add(1)
		return err
	}
	// Only a complete first record earns a handshake, so a peer that
	// trickles or stalls its ClientHello holds only its bytes.
	if n > 0 && e.inLen() >= n {
		if e.srv.penalties.holds(e.addr, e.srv.clock()) {
			e.srv.refusedPenaltyN.Add(1)
			e.fail(ErrPenalized)
			return e.err
		}
		e.hs = newHandshake(e)
		e.srv.inFlightN.Add(1)
	}
	return nil
}

// Read implements Engine.
func (e *engine) Read(p []byte) (int, error) {
	switch e.state {
	case Handshaking:
		return 0, nil
	case Failed:
		return 0, e.err
	case Closed:
		if e.recvClose {
			return 0, io.EOF
		}
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if e.rl != nil {
		if err := e.unpark(); err != nil {
			return 0, err
		}
		return e.readRecords(p)
	}
	return e.readConn(p)
}

func (e *engine) readConn(p []byte) (int, error) {
	n, err := e.conn.Read(p)
	if err == nil {
		return n, nil
	}
	if errors.Is(err, errWouldBlock) {
		return n, nil
	}
	if errors.Is(err, io.EOF) {
		e.recvClose = true
		e.state = Closed
		return n, io.EOF
	}
	var oe *net.OpError
	if errors.Is(err, ErrPeerAbuse) {
		e.fail(err) // from screenRecord12, through crypto/tls
	} else if errors.As(err, &oe) && oe.Op == "remote error" {
		e.fail(fmt.Errorf("%w: %w", ErrPeerAlert, err))
	} else {
		e.fail(fmt.Errorf("%w: %w", ErrBadRecord, err))
	}
	e.conn = nil
	return n, e.err
}

// readRecords decrypts complete records in place and copies their
// plaintext to p, filling p as far as buffered records allow.
func (e *engine) readRecords(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if e.plainLen > 0 {
			m := copy(p[n:], (*e.in)[e.plainOff:e.plainOff+e.plainLen])
			n += m
			e.plainOff += m
			e.plainLen -= m
			continue
		}
		avail := e.inLen()
		if avail == 0 {
			break
		}
		buf := (*e.in)[e.inOff:]
		total, rerr := parseHeader13(buf)
		if rerr != nil {
			e.failRecord(rerr)
			return n, e.err
		}
		if total == 0 || total > avail {
			break
		}
		recStart := e.inOff
		e.inOff += total // consumed whatever happens: never decrypt twice
		typ, pt, rerr := e.rl.open(buf[:total])
		if rerr != nil {
			e.failRecord(rerr)
			return n, e.err
		}
		switch typ {
		case recordTypeApplicationData:
			if len(pt) == 0 {
				if err := e.rate(abuseEmptyRecord); err != nil {
					e.failRecord(&recordError{alert: alertUnexpectedMessage, err: err})
					return n, e.err
				}
				continue
			}
			e.plainOff = recStart + recordHeaderLen
			e.plainLen = len(pt)
		case recordTypeAlert:
			if len(pt) != 2 {
				e.failRecord(badRecord(alertDecodeError, "alert of %d bytes", len(pt)))
				return n, e.err
			}
			if pt[1] == alertCloseNotify {
				e.recvClose = true
				e.state = Closed
				e.releaseIn()
				if n > 0 {
					return n, nil
				}
				return 0, io.EOF
			}
			e.rl = nil
			e.fail(fmt.Errorf("%w: peer sent alert %d (level %d)", ErrPeerAlert, pt[1], pt[0]))
			return n, e.err
		case recordTypeHandshake:
			if err := e.rate(abuseEmptyRecord); err != nil {
				e.failRecord(&recordError{alert: alertUnexpectedMessage, err: err})
				return n, e.err
			}
			out := e.outBuf()
			reply, updated, rerr := e.rl.handlePostHandshake(*out, pt)
			*out = reply
			if rerr != nil {
				e.failRecord(rerr)
				return n, e.err
			}
			if updated {
				if err := e.rate(abuseKeyUpdate); err != nil {
					e.failRecord(&recordError{alert: alertUnexpectedMessage, err: err})
					return n, e.err
				}
			}
		default:
			e.failRecord(badRecord(alertUnexpectedMessage, "unexpected inner content type %d", typ))
			return n, e.err
		}
	}
	e.dropInIfEmpty()
	return n, nil
}

func (e *engine) releaseIn() {
	e.plainLen = 0
	if e.in != nil {
		e.srv.putBuf(e.in)
		e.in, e.inOff, e.plainOff = nil, 0, 0
	}
}

// Write implements Engine.
func (e *engine) Write(p []byte) error {
	switch e.state {
	case Handshaking:
		return ErrNotEstablished
	case Failed:
		return e.err
	case Closed:
		return ErrClosed
	}
	if len(p) == 0 {
		return nil
	}
	if e.rl != nil {
		if err := e.unpark(); err != nil {
			return err
		}
		out := e.outBuf()
		*out = e.rl.sealData(*out, p)
		return nil
	}
	if _, err := e.conn.Write(p); err != nil {
		e.fail(fmt.Errorf("%w: write: %w", ErrBadRecord, err))
		e.conn = nil
		return e.err
	}
	return nil
}

// AppendOutgoing implements Engine.
func (e *engine) AppendOutgoing(dst []byte) []byte {
	if e.out != nil {
		dst = append(dst, *e.out...)
		e.srv.putBuf(e.out)
		e.out = nil
	}
	return dst
}

// State implements Engine.
func (e *engine) State() State {
	return e.state
}

// Err implements Engine.
func (e *engine) Err() error {
	return e.err
}

// Peer implements Engine.
func (e *engine) Peer() Peer {
	return e.peer
}

// Close implements Engine.
func (e *engine) Close() {
	if e.ownerClosed {
		return
	}
	e.ownerClosed = true
	switch e.state {
	case Handshaking:
		e.endHandshake(errOwnerClosed)
		e.state = Closed
		e.releaseIn()
	case Established, Closed:
		if e.sentClose || (e.rl == nil && e.conn == nil) {
			break
		}
		e.sentClose = true
		e.state = Closed
		if e.rl != nil && e.rl.unpark() == nil {
			e.queueAlert(alertCloseNotify)
		} else if e.conn != nil {
			_ = e.conn.CloseWrite() // queues close_notify through the transport
		}
		e.rl, e.conn = nil, nil
		e.releaseIn()
	}
}

// unpark rebuilds parked cipher state; failing to is fatal for the engine.
func (e *engine) unpark() error {
	if err := e.rl.unpark(); err != nil {
		e.rl = nil
		e.fail(fmt.Errorf("%w: %w", ErrBadRecord, err))
		return e.err
	}
	return nil
}

// Park implements Engine.
func (e *engine) Park() {
	if e.rl != nil {
		e.rl.park()
	}
}

// Release implements Engine.
func (e *engine) Release() {
	e.released = true
	e.ownerClosed = true
	if e.state == Handshaking {
		e.endHandshake(errOwnerClosed)
	}
	if e.in != nil {
		e.srv.putBuf(e.in)
	}
	if e.out != nil {
		e.srv.putBuf(e.out)
	}
	e.in, e.out, e.inOff, e.plainOff, e.plainLen = nil, nil, 0, 0, 0
	if e.state != Failed {
		e.state = Closed
	}
	e.rl, e.conn = nil, nil
}
