package tlsbridge

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"time"
)

// errWouldBlock is what the transport returns to crypto/tls when an
// established session has no more buffered ciphertext. crypto/tls treats a
// temporary net.Error as "try again later" and does not poison the Conn.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tlsbridge: no buffered ciphertext" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// transport is the net.Conn crypto/tls runs on: it reads the engine's
// buffered ciphertext and appends what crypto/tls writes to the engine's
// outgoing bytes.
//
// While the handshake runs, a Read with nothing to deliver suspends the
// handshake's coroutine until the owner's next Feed; afterwards (a TLS 1.2
// session keeps its tls.Conn) it returns errWouldBlock instead.
type transport struct {
	e  *engine
	hs *handshake
	// recRemain is how much of the TLS record being delivered is still to
	// hand to crypto/tls. Delivery stops at record ends so that crypto/tls
	// never swallows the application data that follows the handshake.
	recRemain int
}

// Read hands crypto/tls buffered ciphertext, at most to the end of the
// current record.
func (t *transport) Read(p []byte) (int, error) {
	e := t.e
	for {
		if err := t.hs.stopErr(); err != nil {
			return 0, err
		}
		if !t.hs.inProgress && t.recRemain == 0 && e.peer.Version == tls.VersionTLS12 && e.inLen() >= recordHeaderLen {
			if err := e.screenRecord12((*e.in)[e.inOff:]); err != nil {
				return 0, err
			}
		}
		if n := t.deliverable(); n > 0 {
			n = copy(p[:min(len(p), n)], (*e.in)[e.inOff:])
			e.inOff += n
			t.recRemain -= n
			e.dropInIfEmpty()
			return n, nil
		}
		if !t.hs.inProgress {
			return 0, errWouldBlock
		}
		if err := t.hs.waitForBytes(); err != nil {
			return 0, err
		}
	}
}

// deliverable is how many buffered bytes Read may hand crypto/tls now: the
// rest of the current record, or the start of the next once its header is
// complete.
func (t *transport) deliverable() int {
	e := t.e
	avail := e.inLen()
	if t.recRemain == 0 && avail >= recordHeaderLen {
		in := (*e.in)[e.inOff:]
		t.recRemain = recordHeaderLen + int(binary.BigEndian.Uint16(in[3:5]))
	}
	return min(avail, t.recRemain)
}

// Write queues ciphertext produced by crypto/tls for the owner to send.
func (t *transport) Write(b []byte) (int, error) {
	if t.hs.inProgress {
		t.hs.keys.capture(b)
	}
	if !t.e.released {
		t.e.appendOut(b)
	}
	return len(b), nil
}

func (t *transport) Close() error                     { return nil }
func (t *transport) LocalAddr() net.Addr              { return memAddr{} }
func (t *transport) RemoteAddr() net.Addr             { return memAddr{} }
func (t *transport) SetDeadline(time.Time) error      { return nil }
func (t *transport) SetReadDeadline(time.Time) error  { return nil }
func (t *transport) SetWriteDeadline(time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "tlsbridge" }
