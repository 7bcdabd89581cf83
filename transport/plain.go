package transport

import (
	"net/netip"

	"tlslpd/tlsbridge"
)

// PlainFactory makes pass-through engines: the socket's bytes are the
// session's lines, as a tlslp client without TLS sends them.
type PlainFactory struct{}

// NewEngine makes one plain engine.
func (PlainFactory) NewEngine(netip.Addr, func()) tlsbridge.Engine { return &plainEngine{} }

// plainEngine is established from the start: nothing to negotiate.
type plainEngine struct {
	in, out []byte
	closed  bool
}

func (e *plainEngine) Feed(b []byte) error {
	if !e.closed {
		e.in = append(e.in, b...)
	}
	return nil
}

func (e *plainEngine) Read(p []byte) (int, error) {
	n := copy(p, e.in)
	if n == len(e.in) {
		e.in = e.in[:0]
	} else {
		e.in = e.in[:copy(e.in, e.in[n:])]
	}
	return n, nil
}

func (e *plainEngine) Write(p []byte) error {
	if e.closed {
		return tlsbridge.ErrClosed
	}
	e.out = append(e.out, p...)
	return nil
}

func (e *plainEngine) AppendOutgoing(dst []byte) []byte {
	dst = append(dst, e.out...)
	e.out = e.out[:0]
	return dst
}

func (e *plainEngine) State() tlsbridge.State {
	if e.closed {
		return tlsbridge.Closed
	}
	return tlsbridge.Established
}

func (e *plainEngine) Err() error {
	if e.closed {
		return tlsbridge.ErrClosed
	}
	return nil
}

func (e *plainEngine) Peer() tlsbridge.Peer { return tlsbridge.Peer{} }
func (e *plainEngine) Close()               { e.closed = true }

// Park drops idle buffers: a session waiting for WORK holds none.
func (e *plainEngine) Park() {
	if len(e.in) == 0 {
		e.in = nil
	}
	if len(e.out) == 0 {
		e.out = nil
	}
}

func (e *plainEngine) Release()          { *e = plainEngine{closed: true} }
func (e *plainEngine) Transport() string { return TCP }
