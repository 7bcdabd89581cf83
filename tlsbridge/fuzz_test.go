package tlsbridge

import (
	"errors"
	"testing"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// settled reports whether the engine has nothing left to do without more
// input: terminal, waiting for more of the first record, queued for a
// slot, or its handshake suspended with nothing buffered that it could
// read yet (a partial record header does not count). Feed runs the
// handshake synchronously, so an engine is always settled when Feed
// returns.
func (e *engine) settled() bool {
	if e.State() != Handshaking || e.hs == nil {
		return true
	}
	return !e.hs.needsCPU() || e.queuedNow()
}

func FuzzEngineFeed(f *testing.F) {
	fx := newFixture(f)
	ts := fx.newServer(f, nil)
	f.Add([]byte("HELLO\n"), uint8(0))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), uint8(3))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0}, uint8(2))
	f.Add([]byte{22, 3, 1, 0, 1, 1, 23, 3, 3, 0, 1, 0}, uint8(6))
	// A one-byte handshake record, then two bytes of a record header: the
	// handshake waits with bytes buffered that it cannot read yet.
	f.Add([]byte("\x16\x03\x01\x00\x01\x01\x17\x03"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		e := ts.NewEngine(testPeerAddr, func() {}).(*engine)
		// Released on every path: a failing input must not leave a slot
		// taken that would fail the inputs after it.
		defer e.Release()
		cut := min(int(split), len(data))
		for _, part := range [][]byte{data[:cut], data[cut:]} {
			_ = e.Feed(part)
			if !e.settled() {
				t.Fatalf("engine did not settle within Feed: state %v", e.State())
			}
			_ = e.AppendOutgoing(nil)
		}
		n, err := e.Read(make([]byte, 64))
		if n != 0 {
			t.Fatalf("plaintext %d bytes without a handshake", n)
		}
		switch e.State() {
		case Handshaking:
			if err != nil {
				t.Fatalf("Read error while handshaking: %v", err)
			}
		case Failed:
			if !(errors.Is(e.Err(), ErrNotTLS) || errors.Is(e.Err(), ErrHandshake)) {
				t.Fatalf("failure does not wrap ErrNotTLS/ErrHandshake: %v", e.Err())
			}
		default:
			t.Fatalf("unexpected state %v", e.State())
		}
		e.Release()
		if n := ts.Stats().HandshakesInFlight; n != 0 {
			t.Fatalf("%d handshakes still hold a slot after Release", n)
		}
	})
}
