package tlsbridge

import (
	"errors"
	"fmt"
)

// Test-only access to the engine's internals.

// hsStarted reports whether the engine has begun its handshake (its first
// record is complete) or is past it.
func (e *engine) hsStarted() bool {
	return e.hs != nil || e.state != Handshaking
}

// queuedNow reports whether the engine waits for a handshake slot.
func (e *engine) queuedNow() bool {
	if e.hs == nil {
		return false
	}
	e.srv.adm.mu.Lock()
	defer e.srv.adm.mu.Unlock()
	return e.hs.adm.queued
}

// suspendedNow reports whether the engine's handshake waits for its peer.
func (e *engine) suspendedNow() bool {
	if e.hs == nil {
		return false
	}
	e.srv.adm.mu.Lock()
	defer e.srv.adm.mu.Unlock()
	return e.hs.adm.suspended
}

// requestKeyUpdate sends a KeyUpdate asking the peer to update too and
// switches to the next sending key (TLS 1.3 record layer only). The server
// never needs this on its own; it exercises the peer's answer.
func (e *engine) requestKeyUpdate() error {
	if e.rl == nil {
		return ErrNotEstablished
	}
	if err := e.unpark(); err != nil {
		return err
	}
	out := e.outBuf()
	*out = e.rl.seal(*out, recordTypeHandshake, []byte{handshakeTypeKeyUpdate, 0, 0, 1, 1})
	if err := e.rl.out.update(e.rl.suite); err != nil {
		return fmt.Errorf("key update: %w", err)
	}
	return nil
}

// newRecordLayer builds a record layer from known secrets, without a
// handshake.
func newRecordLayer(suiteID uint16, clientSecret, serverSecret []byte, serverSeq uint64) (*recordLayer, error) {
	s := suite13ByID(suiteID)
	if s == nil {
		return nil, fmt.Errorf("tls 1.3 suite %#04x not supported by the record layer", suiteID)
	}
	if len(clientSecret) != s.hash().Size() || len(serverSecret) != s.hash().Size() {
		return nil, errors.New("traffic secret length does not match the suite hash")
	}
	rl := &recordLayer{suite: s}
	if err := rl.in.setSecret(s, clientSecret); err != nil {
		return nil, fmt.Errorf("client traffic keys: %w", err)
	}
	if err := rl.out.setSecret(s, serverSecret); err != nil {
		return nil, fmt.Errorf("server traffic keys: %w", err)
	}
	rl.out.seq = serverSeq
	return rl, nil
}

// occupySlot takes a handshake slot as if another owner's handshake were
// computing, and returns the function that gives it back.
func (c *Server) occupySlot() (release func()) {
	a := &admission{wake: func() {}}
	if !c.adm.acquire(a) {
		panic("occupySlot: no slot free")
	}
	return func() { c.adm.leave(a) }
}

// freezeClock stops the clock peer limits are rated by; the test moves it
// through the returned pointer (nanoseconds).
func (c *Server) freezeClock() *int64 {
	now := new(int64)
	c.clock = func() int64 { return *now }
	return now
}
