package transport

import (
	"net/netip"
	"time"

	"tlslpd/tlsbridge"
)

// tlsHandshakeRecord is the first byte of every TLS ClientHello: the
// record type "handshake".
const tlsHandshakeRecord = 0x16

// DefaultAutoWait is how long auto waits for a first byte before serving
// plain: a plain tlslp client says nothing until it reads HELLO.
const DefaultAutoWait = 300 * time.Millisecond

// AutoFactory serves TLS to clients whose first byte opens a TLS
// handshake record and plain to the others, and to clients that say
// nothing within Wait.
type AutoFactory struct {
	TLS  Factory
	Wait time.Duration // 0 means DefaultAutoWait
}

// NewEngine makes one undecided engine.
func (f AutoFactory) NewEngine(addr netip.Addr, wake func()) tlsbridge.Engine {
	wait := f.Wait
	if wait <= 0 {
		wait = DefaultAutoWait
	}
	return &autoEngine{tls: f.TLS, addr: addr, wake: wake, wait: wait}
}

// autoEngine delegates everything to the engine its first byte chose.
type autoEngine struct {
	tls   Factory
	addr  netip.Addr
	wake  func()
	wait  time.Duration
	inner tlsbridge.Engine // nil until decided
	name  string
	ended bool // closed or released before it decided
}

func (e *autoEngine) decide(tls bool) {
	if tls {
		e.inner, e.name = e.tls.NewEngine(e.addr, e.wake), TLS
	} else {
		e.inner, e.name = &plainEngine{}, TCP
	}
}

func (e *autoEngine) Feed(b []byte) error {
	if e.inner == nil {
		if len(b) == 0 || e.ended {
			return nil
		}
		e.decide(b[0] == tlsHandshakeRecord)
	}
	return e.inner.Feed(b)
}

func (e *autoEngine) FirstByteWait() time.Duration {
	if e.inner != nil || e.ended {
		return 0
	}
	return e.wait
}

// WaitOver serves plain to a client that has not spoken.
func (e *autoEngine) WaitOver() {
	if e.inner == nil && !e.ended {
		e.decide(false)
	}
}

func (e *autoEngine) Read(p []byte) (int, error) {
	if e.inner == nil {
		return 0, nil
	}
	return e.inner.Read(p)
}

func (e *autoEngine) Write(p []byte) error {
	if e.inner == nil {
		return tlsbridge.ErrNotEstablished
	}
	return e.inner.Write(p)
}

func (e *autoEngine) AppendOutgoing(dst []byte) []byte {
	if e.inner == nil {
		return dst
	}
	return e.inner.AppendOutgoing(dst)
}

func (e *autoEngine) State() tlsbridge.State {
	switch {
	case e.inner != nil:
		return e.inner.State()
	case e.ended:
		return tlsbridge.Closed
	}
	return tlsbridge.Handshaking
}

func (e *autoEngine) Err() error {
	switch {
	case e.inner != nil:
		return e.inner.Err()
	case e.ended:
		return tlsbridge.ErrClosed
	}
	return nil
}

func (e *autoEngine) Peer() tlsbridge.Peer {
	if e.inner == nil {
		return tlsbridge.Peer{}
	}
	return e.inner.Peer()
}

func (e *autoEngine) Close() {
	if e.inner != nil {
		e.inner.Close()
	}
	e.ended = true
}

func (e *autoEngine) Park() {
	if e.inner != nil {
		e.inner.Park()
	}
}

func (e *autoEngine) Release() {
	if e.inner != nil {
		e.inner.Release()
	}
	e.inner, e.ended = nil, true
}

// Transport is auto until the first byte (or the wait) decided.
func (e *autoEngine) Transport() string {
	if e.name == "" {
		return Auto
	}
	return e.name
}
