package tlsbridge

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// errOwnerClosed ends a handshake whose engine was closed by its owner.
var errOwnerClosed = fmt.Errorf("%w: engine closed during handshake", ErrClosed)

// errWouldBlock is what the transport returns to crypto/tls when an
// established session has no more buffered ciphertext. crypto/tls treats a
// temporary net.Error as "try again later" and does not poison the Conn.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tlsbridge: no buffered ciphertext" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// Limits on what the key-log capture keeps while counting the server's
// post-handshake records (normally one session ticket).
const (
	maxCapturedRecords = 8
	maxCapturedBytes   = 16 << 10
)

// hsConn is the net.Conn crypto/tls runs on, and the coroutine the
// handshake runs in.
//
// crypto/tls only knows blocking I/O, so the handshake runs as a coroutine
// (iter.Pull) on the owner's goroutine: when crypto/tls reads and nothing
// is buffered, Read yields back to the owner, and the owner's next Feed
// resumes it where it stopped. A coroutine switch is a direct hand-off on
// the same thread, so a handshake costs no scheduler wake-ups, futexes or
// eventfd writes, and no locks: everything but the atomic flag below
// is touched only on the owner's goroutine. After the handshake (when
// tls.Conn is kept, i.e. TLS 1.2) Read returns errWouldBlock instead of
// yielding.
type hsConn struct {
	e *engine
	// recRemain is how much of the TLS record being delivered is still to
	// hand to crypto/tls. Delivery stops at record ends so that crypto/tls
	// never swallows the application data that follows the handshake.
	recRemain int
	blocking  bool // the handshake is still running: Read yields
	started   bool // running on a runner (see hsRunner)
	waiting   bool // suspended in Read for lack of bytes
	done      bool // result published

	runner *hsRunner           // while started and not done
	yield  func(struct{}) bool // suspends the handshake (inside the runner)

	// Set by whichever goroutine frees a slot; the owner acts on it in
	// Feed after the wake function told it to look.
	admitted atomic.Bool // a handshake slot is ours

	// result, valid once done.
	res hsResult

	// key-log capture.
	clientSecret []byte
	serverSecret []byte
	afterSecret  [][]byte // protected records written once the server secret was known
	capturedLen  int

	// FIFO links; guarded by Server.mu.
	queued       bool
	qPrev, qNext *hsConn
}

type hsResult struct {
	err  error
	conn *tls.Conn
	rl   *recordLayer
	peer Peer
}

func newHSConn(e *engine) *hsConn {
	return &hsConn{e: e, blocking: true}
}

// Read hands crypto/tls buffered ciphertext, at most to the end of the
// current record.
func (h *hsConn) Read(p []byte) (int, error) {
	e := h.e
	for {
		if h.blocking && (e.ownerClosed || e.released) {
			return 0, errOwnerClosed
		}
		if n := h.deliverable(); n > 0 {
			n = copy(p[:min(len(p), n)], (*e.in)[e.inOff:])
			e.inOff += n
			h.recRemain -= n
			e.dropInIfEmpty()
			return n, nil
		}
		if !h.blocking {
			return 0, errWouldBlock
		}
		h.waiting = true
		more := h.yield(struct{}{})
		h.waiting = false
		if !more {
			return 0, errOwnerClosed
		}
	}
}

// deliverable is how many buffered bytes Read may hand crypto/tls now: the
// rest of the current record, or the start of the next once its header is
// complete.
func (h *hsConn) deliverable() int {
	e := h.e
	avail := e.inLen()
	if h.recRemain == 0 && avail >= recordHeaderLen {
		in := (*e.in)[e.inOff:]
		h.recRemain = recordHeaderLen + int(binary.BigEndian.Uint16(in[3:5]))
	}
	return min(avail, h.recRemain)
}

// Write queues ciphertext produced by crypto/tls for the owner to send.
func (h *hsConn) Write(b []byte) (int, error) {
	e := h.e
	if h.serverSecret != nil && h.blocking {
		h.capture(b)
	}
	if !e.released {
		e.appendOut(b)
	}
	return len(b), nil
}

// capture keeps copies of protected records written after the server's
// application traffic secret was logged. Some are still under handshake
// keys (the server Finished), the rest (session tickets) under application
// keys; trial decryption at the end tells how many application records the
// server already sent, i.e. the record layer's starting sequence number.
func (h *hsConn) capture(b []byte) {
	for len(b) >= recordHeaderLen {
		n := recordHeaderLen + int(binary.BigEndian.Uint16(b[3:5]))
		if n > len(b) {
			return
		}
		if b[0] == recordTypeApplicationData && len(h.afterSecret) < maxCapturedRecords &&
			h.capturedLen+n <= maxCapturedBytes {
			h.afterSecret = append(h.afterSecret, bytes.Clone(b[:n]))
			h.capturedLen += n
		} else if b[0] == recordTypeApplicationData {
			h.capturedLen = maxCapturedBytes + 1 // overflowed: do not trust the count
		}
		b = b[n:]
	}
}

func (h *hsConn) Close() error                       { return nil }
func (h *hsConn) LocalAddr() net.Addr                { return memAddr{} }
func (h *hsConn) RemoteAddr() net.Addr               { return memAddr{} }
func (h *hsConn) SetDeadline(t time.Time) error      { return nil }
func (h *hsConn) SetReadDeadline(t time.Time) error  { return nil }
func (h *hsConn) SetWriteDeadline(t time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "tlsbridge" }

// keyLogger receives crypto/tls's NSS key-log lines for one connection.
type keyLogger hsConn

func (k *keyLogger) Write(line []byte) (int, error) {
	f := bytes.Fields(line)
	if len(f) != 3 {
		return len(line), nil
	}
	var dst *[]byte
	switch string(f[0]) {
	case "CLIENT_TRAFFIC_SECRET_0":
		dst = &k.clientSecret
	case "SERVER_TRAFFIC_SECRET_0":
		dst = &k.serverSecret
	default:
		return len(line), nil
	}
	s := make([]byte, hex.DecodedLen(len(f[2])))
	if _, err := hex.Decode(s, f[2]); err != nil {
		return 0, fmt.Errorf("key log secret: %w", err)
	}
	*dst = s
	return len(line), nil
}

// start runs the handshake on a runner until it needs more bytes or
// finishes. The slot must already be ours.
func (h *hsConn) start() {
	e := h.e
	h.started = true
	h.runner = e.srv.getRunner()
	h.runner.job = h
	h.resume()
}

// resume runs the suspended handshake until it needs more bytes or ends;
// once it has ended, the runner goes back to the pool.
func (h *hsConn) resume() {
	h.runner.next()
	if h.done {
		h.e.srv.putRunner(h.runner)
		h.runner = nil
	}
}

// run performs the handshake inside a runner, publishes the result and
// frees the slot.
func (h *hsConn) run(yield func(struct{}) bool) {
	h.yield = yield
	srv := h.e.srv
	conn := tls.Server(h, srv.outer)
	err := conn.Handshake()
	h.yield = nil

	var res hsResult
	if err != nil {
		res.err = classifyHandshakeErr(err)
	} else {
		st := conn.ConnectionState()
		res.peer = peerOf(&st)
		res.conn = conn
		if st.Version == tls.VersionTLS13 && !srv.keepConn13 {
			if rl, ok := h.recordLayer(st.CipherSuite); ok {
				res.rl, res.conn = rl, nil
			}
		}
	}
	h.clientSecret, h.serverSecret, h.afterSecret = nil, nil, nil
	h.res = res
	h.done = true
	h.blocking = false

	switch {
	case res.err == nil:
		srv.okN.Add(1)
		if res.peer.Resumed {
			srv.resumedN.Add(1)
		}
	case errors.Is(res.err, ErrClosed):
		srv.canceledN.Add(1)
	default:
		srv.failedN.Add(1)
	}
	srv.finish()
}

// recordLayer builds the TLS 1.3 record layer from the captured secrets,
// or reports false to keep tls.Conn (e.g. a suite it does not know).
func (h *hsConn) recordLayer(suiteID uint16) (*recordLayer, bool) {
	if h.clientSecret == nil || h.serverSecret == nil || h.recRemain != 0 || h.capturedLen > maxCapturedBytes {
		return nil, false
	}
	s := suite13ByID(suiteID)
	if s == nil || len(h.clientSecret) != len(h.serverSecret) {
		return nil, false
	}
	// Trial-decrypt what the server already sent under its application
	// keys to learn the outbound sequence number; that same direction then
	// becomes the layer's outbound one, so each key schedule is built once.
	rl := &recordLayer{suite: s}
	if err := rl.in.setSecret(s, h.serverSecret); err != nil {
		return nil, false
	}
	for _, rec := range h.afterSecret {
		// rec is capture's own copy, so it may be decrypted in place.
		if !rl.authenticates(rec) && rl.in.seq > 0 {
			// Application-key records never precede handshake-key ones.
			return nil, false
		}
	}
	rl.out, rl.in = rl.in, direction{}
	if err := rl.in.setSecret(s, h.clientSecret); err != nil {
		return nil, false
	}
	return rl, true
}

func peerOf(st *tls.ConnectionState) Peer {
	p := Peer{Version: st.Version, CipherSuite: st.CipherSuite, Resumed: st.DidResume}
	if len(st.PeerCertificates) > 0 {
		c := st.PeerCertificates[0]
		p.HasCert = true
		p.Subject = c.Subject.String()
		p.Fingerprint = sha256.Sum256(c.Raw)
	}
	return p
}

func classifyHandshakeErr(err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return fmt.Errorf("%w: %w", ErrNotTLS, err)
	}
	return fmt.Errorf("%w: %w", ErrHandshake, err)
}
