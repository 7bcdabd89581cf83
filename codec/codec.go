package codec

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"tlslpd/protocol"
)

// Sentinel errors; both mean the session must answer "FAIL receiving.".
var (
	ErrLineTooLong = errors.New("line longer than the maximum")
	ErrInvalidUTF8 = errors.New("line is not valid UTF-8")
)

// keepPartialCap bounds the partial-line buffer a decoder keeps between
// lines: partial lines are rare (a peer trickling bytes), so a larger buffer
// is dropped once its line completes rather than held by an idle session.
const keepPartialCap = 64

// Decoder splits a byte stream into lines. The zero value uses
// protocol.MaxLineLength. It is not safe for concurrent use.
type Decoder struct {
	// MaxLineLength is the longest allowed line counting its '\n' (the
	// reference's MAX_LINE_LENGTH: 999 bytes of content at most); zero
	// means protocol.MaxLineLength.
	MaxLineLength int

	partial []byte // an incomplete line carried over from earlier chunks
	err     error  // sticky: once framing fails the stream is unusable
}

// limit is the longest line content, without its '\n'.
func (d *Decoder) limit() int {
	if d.MaxLineLength > 0 {
		return d.MaxLineLength - 1
	}
	return protocol.MaxLineLength - 1
}

// Decode feeds p and calls emit for each complete line, in order, without
// its '\n'. The line slice is only valid during the call. If emit returns
// an error, Decode stops and returns it, and the rest of p is dropped (the
// caller is ending the session). A framing error (ErrLineTooLong,
// ErrInvalidUTF8) is returned as soon as it is detected — for an over-long
// line, at its first byte past the limit, without waiting for '\n' — and
// every later call returns it again.
func (d *Decoder) Decode(p []byte, emit func(line []byte) error) error {
	if d.err != nil {
		return d.err
	}
	limit := d.limit()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(d.partial)+len(p) > limit {
				return d.fail(ErrLineTooLong, len(d.partial)+len(p))
			}
			if d.partial == nil {
				d.partial = make([]byte, 0, max(keepPartialCap, len(p)))
			}
			d.partial = append(d.partial, p...)
			return nil
		}
		line := p[:i]
		p = p[i+1:]
		if len(d.partial) > 0 {
			if len(d.partial)+len(line) > limit {
				return d.fail(ErrLineTooLong, len(d.partial)+len(line))
			}
			line = append(d.partial, line...)
			d.partial = d.partial[:0]
			if cap(d.partial) > keepPartialCap {
				d.partial = nil
			}
		} else if len(line) > limit {
			return d.fail(ErrLineTooLong, len(line))
		}
		if !utf8.Valid(line) {
			d.err = ErrInvalidUTF8
			return d.err
		}
		if err := emit(line); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) fail(err error, length int) error {
	d.partial = nil
	d.err = fmt.Errorf("%w: more than %d bytes with its newline (saw %d before it)", err, d.limit()+1, length)
	return d.err
}

// Buffered reports how many bytes of an incomplete line are held.
func (d *Decoder) Buffered() int { return len(d.partial) }

// Err returns the sticky framing error, if any.
func (d *Decoder) Err() error { return d.err }

// Reset forgets any partial line and error, releasing the buffer.
func (d *Decoder) Reset() {
	d.partial = nil
	d.err = nil
}
