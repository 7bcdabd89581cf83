package wsframe

import (
	"errors"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes, in two chunks, to the frame decoder:
// it must never panic, never consume more than it was given, never hand
// out a message over its bound, and either return a ProtocolError or
// consume only whole frames.
func FuzzDecoder(f *testing.F) {
	f.Add(clientFrame(true, OpText, "HELLOBACK"), 3)
	f.Add(cat(clientFrame(false, OpText, "a"), clientFrame(true, OpPing, "p"), clientFrame(true, OpContinuation, "b")), 7)
	f.Add([]byte{0x81, 0xFE, 0x00, 0x7E, 1, 2, 3, 4}, 2)
	f.Add([]byte{0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0}, 0)
	f.Add(clientFrame(true, OpClose, "\x03\xe8"), 1)
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		const max = 64
		d := &Decoder{MaxMessage: max}
		if cut < 0 || cut > len(data) {
			cut = len(data) / 2
		}
		buf := append([]byte(nil), data[:cut]...)
		emit := func(op Opcode, p []byte) bool {
			if !op.IsControl() && len(p) > max {
				t.Fatalf("message of %d bytes over the bound %d", len(p), max)
			}
			if op.IsControl() && len(p) > 125 {
				t.Fatalf("control payload of %d bytes", len(p))
			}
			return true
		}
		n, err := d.Decode(buf, emit)
		if n > len(buf) {
			t.Fatalf("consumed %d of %d", n, len(buf))
		}
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a ProtocolError", err)
			}
			return
		}
		buf = append(buf[n:], data[cut:]...)
		m, err := d.Decode(buf, emit)
		if m > len(buf) {
			t.Fatalf("consumed %d of %d", m, len(buf))
		}
		var pe *ProtocolError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("error %v is not a ProtocolError", err)
		}
		_, _, _ = ParseRequest(data)
	})
}
