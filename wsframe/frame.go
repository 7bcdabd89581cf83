package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Opcode is a frame's opcode (RFC 6455 section 5.2).
type Opcode byte

// Opcodes.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports a control frame (close, ping, pong).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// Close status codes (RFC 6455 section 7.4.1).
const (
	CloseNormal          uint16 = 1000
	CloseGoingAway       uint16 = 1001
	CloseProtocolError   uint16 = 1002
	CloseUnsupportedData uint16 = 1003
	CloseNoStatus        uint16 = 1005 // never sent: "the close frame had no code"
	CloseInvalidPayload  uint16 = 1007
	CloseTooBig          uint16 = 1009
)

// ErrShort: the buffer does not hold a whole frame header yet.
var ErrShort = errors.New("wsframe: incomplete frame")

// ProtocolError is a peer's violation of the framing rules; Code is the
// status the close frame that answers it carries.
type ProtocolError struct {
	Code   uint16
	Reason string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("websocket: %s (close %d)", e.Reason, e.Code)
}

func protoErr(code uint16, reason string) *ProtocolError {
	return &ProtocolError{Code: code, Reason: reason}
}

// Header is one frame's header.
type Header struct {
	Fin    bool
	Op     Opcode
	Masked bool
	Mask   [4]byte
	Length uint64
}

// maxControlPayload is RFC 6455's bound on control frame payloads.
const maxControlPayload = 125

// ParseHeader reads the frame header at the start of b and returns it with
// its size. ErrShort means more bytes are needed; a *ProtocolError is a
// header no peer may send (reserved bits, unknown opcode, a control frame
// fragmented or over 125 bytes, a length not in its shortest form or with
// the top bit set).
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < 2 {
		return Header{}, 0, ErrShort
	}
	h := Header{Fin: b[0]&0x80 != 0, Op: Opcode(b[0] & 0x0F), Masked: b[1]&0x80 != 0}
	if b[0]&0x70 != 0 {
		return h, 0, protoErr(CloseProtocolError, "reserved bits set")
	}
	switch h.Op {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
	default:
		return h, 0, protoErr(CloseProtocolError, fmt.Sprintf("unknown opcode %#x", byte(h.Op)))
	}
	n := 2
	switch l := b[1] & 0x7F; l {
	case 126:
		if len(b) < 4 {
			return h, 0, ErrShort
		}
		h.Length = uint64(binary.BigEndian.Uint16(b[2:]))
		if h.Length < 126 {
			return h, 0, protoErr(CloseProtocolError, "length not in its shortest form")
		}
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, ErrShort
		}
		h.Length = binary.BigEndian.Uint64(b[2:])
		if h.Length>>63 != 0 {
			return h, 0, protoErr(CloseProtocolError, "length with its top bit set")
		}
		if h.Length <= 0xFFFF {
			return h, 0, protoErr(CloseProtocolError, "length not in its shortest form")
		}
		n = 10
	default:
		h.Length = uint64(l)
	}
	if h.Op.IsControl() && (!h.Fin || h.Length > maxControlPayload) {
		return h, 0, protoErr(CloseProtocolError, "control frame fragmented or over 125 bytes")
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, ErrShort
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// Unmask XORs p with the mask key, p starting at offset pos of the payload.
func Unmask(p []byte, key [4]byte, pos int) {
	for i := range p {
		p[i] ^= key[(pos+i)&3]
	}
}

// AppendFrame appends one unmasked (server) frame.
func AppendFrame(dst []byte, fin bool, op Opcode, payload []byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, b0, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// AppendClose appends a close frame with code and reason (the reason is
// cut to fit the 125-byte control payload).
func AppendClose(dst []byte, code uint16, reason string) []byte {
	if code == CloseNoStatus {
		return AppendFrame(dst, true, OpClose, nil)
	}
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2]
	}
	var p [maxControlPayload]byte
	binary.BigEndian.PutUint16(p[:], code)
	n := 2 + copy(p[2:], reason)
	return AppendFrame(dst, true, OpClose, p[:n])
}

// Decoder reassembles a client's messages from its frames. The zero value
// is not usable: set MaxMessage.
type Decoder struct {
	// MaxMessage bounds a message's payload (all its fragments); a longer
	// one is refused with CloseTooBig before its bytes are buffered.
	MaxMessage int
	// AllowUnmasked accepts unmasked frames (a client decoding a server's);
	// a server must leave it false: RFC 6455 requires masked client frames.
	AllowUnmasked bool

	op  Opcode // first frame's opcode of a fragmented message; 0 when none
	msg []byte // fragments so far
}

// Decode consumes every complete frame at the start of b, unmasking in
// place, and calls emit for each whole data message (op OpText or
// OpBinary, payload reassembled) and each control frame (OpPing, OpPong,
// OpClose with its payload), in order. It returns how many bytes it
// consumed; a partial frame is left for the next call. emit returning
// false stops decoding after that frame. A *ProtocolError says the
// connection must close with its code; text messages are checked to be
// UTF-8 (CloseInvalidPayload). Slices handed to emit are valid only
// during the call.
func (d *Decoder) Decode(b []byte, emit func(op Opcode, payload []byte) bool) (int, error) {
	used := 0
	for {
		h, hn, err := ParseHeader(b[used:])
		if errors.Is(err, ErrShort) {
			return used, nil
		}
		if err != nil {
			return used, err
		}
		if !h.Masked && !d.AllowUnmasked {
			return used, protoErr(CloseProtocolError, "unmasked client frame")
		}
		if err := d.admit(h); err != nil {
			return used, err
		}
		if uint64(len(b)-used-hn) < h.Length {
			return used, nil // wait for the whole frame
		}
		payload := b[used+hn : used+hn+int(h.Length)]
		if h.Masked {
			Unmask(payload, h.Mask, 0)
		}
		used += hn + int(h.Length)
		op, msg, done := d.add(h, payload)
		if !done {
			continue
		}
		if op == OpText && !utf8.Valid(msg) {
			return used, protoErr(CloseInvalidPayload, "text message is not UTF-8")
		}
		if op == OpClose {
			if err := checkClose(msg); err != nil {
				return used, err
			}
		}
		more := emit(op, msg)
		if op == OpText || op == OpBinary {
			d.msg = d.msg[:0]
		}
		if !more {
			return used, nil
		}
	}
}

// admit checks a frame header against the message in progress and the
// size bound, before its payload is waited for.
func (d *Decoder) admit(h Header) error {
	switch {
	case h.Op.IsControl():
		return nil
	case h.Op == OpContinuation && d.op == 0:
		return protoErr(CloseProtocolError, "continuation frame without a message")
	case h.Op != OpContinuation && d.op != 0:
		return protoErr(CloseProtocolError, "new message inside a fragmented one")
	case h.Length > uint64(d.MaxMessage) || uint64(len(d.msg))+h.Length > uint64(d.MaxMessage):
		return protoErr(CloseTooBig, fmt.Sprintf("message over %d bytes", d.MaxMessage))
	}
	return nil
}

// add takes one frame's payload; it reports the message (or control
// frame) when one is complete.
func (d *Decoder) add(h Header, payload []byte) (Opcode, []byte, bool) {
	if h.Op.IsControl() {
		return h.Op, payload, true
	}
	if h.Op != OpContinuation {
		if h.Fin {
			return h.Op, payload, true // unfragmented: no copy
		}
		d.op = h.Op
	}
	d.msg = append(d.msg, payload...)
	if !h.Fin {
		return 0, nil, false
	}
	op := d.op
	d.op = 0
	return op, d.msg, true
}

// Pending reports whether a fragmented message is waiting for its end.
func (d *Decoder) Pending() bool { return d.op != 0 }

// checkClose validates a close frame's payload: empty, or a code a peer
// may send and a UTF-8 reason.
func checkClose(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if len(p) == 1 {
		return protoErr(CloseProtocolError, "close frame with a one-byte payload")
	}
	code := binary.BigEndian.Uint16(p)
	valid := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
	if !valid {
		return protoErr(CloseProtocolError, fmt.Sprintf("close code %d may not be sent", code))
	}
	if !utf8.Valid(p[2:]) {
		return protoErr(CloseInvalidPayload, "close reason is not UTF-8")
	}
	return nil
}

// CloseCode reads a close frame's code (CloseNoStatus when it has none).
func CloseCode(p []byte) uint16 {
	if len(p) < 2 {
		return CloseNoStatus
	}
	return binary.BigEndian.Uint16(p)
}

// Release drops the reassembly buffer (an idle connection).
func (d *Decoder) Release() {
	if d.op == 0 {
		d.msg = nil
	}
}
