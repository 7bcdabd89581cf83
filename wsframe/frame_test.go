package wsframe

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clientFrame is a masked frame as a browser sends it.
func clientFrame(fin bool, op Opcode, payload string) []byte {
	f := AppendFrame(nil, fin, op, []byte(payload))
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	hn := len(f) - len(payload)
	out := append([]byte(nil), f[:hn]...)
	out[1] |= 0x80
	out = append(out, key[:]...)
	p := []byte(payload)
	Unmask(p, key, 0)
	return append(out, p...)
}

type got struct {
	op      Opcode
	payload string
}

func decodeAll(t *testing.T, d *Decoder, chunks ...[]byte) ([]got, error) {
	t.Helper()
	var out []got
	var buf []byte
	for _, c := range chunks {
		buf = append(buf, c...)
		n, err := d.Decode(buf, func(op Opcode, p []byte) bool {
			out = append(out, got{op, string(p)})
			return true
		})
		buf = buf[n:]
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func cat(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	return b
}

func TestDecoder(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name     string
		chunks   [][]byte
		want     []got
		wantCode uint16 // 0: no error
	}{
		{name: "one text frame", chunks: [][]byte{clientFrame(true, OpText, "HELLOBACK")}, want: []got{{OpText, "HELLOBACK"}}},
		{name: "16-bit length", chunks: [][]byte{clientFrame(true, OpText, long)}, want: []got{{OpText, long}}},
		{name: "a frame byte by byte", chunks: split(clientFrame(true, OpText, "abc"), 1), want: []got{{OpText, "abc"}}},
		{name: "fragments with a ping between them",
			chunks: [][]byte{cat(clientFrame(false, OpText, "HELLO"), clientFrame(true, OpPing, "p"), clientFrame(true, OpContinuation, "BACK"))},
			want:   []got{{OpPing, "p"}, {OpText, "HELLOBACK"}}},
		{name: "two messages in one read", chunks: [][]byte{cat(clientFrame(true, OpText, "a"), clientFrame(true, OpText, "b"))}, want: []got{{OpText, "a"}, {OpText, "b"}}},
		{name: "close with code", chunks: [][]byte{AppendClose(nil, CloseNormal, "bye")}, wantCode: CloseProtocolError}, // unmasked
		{name: "masked close", chunks: [][]byte{clientFrame(true, OpClose, "\x03\xe8bye")}, want: []got{{OpClose, "\x03\xe8bye"}}},
		{name: "unmasked client frame", chunks: [][]byte{AppendFrame(nil, true, OpText, []byte("x"))}, wantCode: CloseProtocolError},
		{name: "reserved bits", chunks: [][]byte{func() []byte { f := clientFrame(true, OpText, "x"); f[0] |= 0x40; return f }()}, wantCode: CloseProtocolError},
		{name: "unknown opcode", chunks: [][]byte{clientFrame(true, Opcode(3), "x")}, wantCode: CloseProtocolError},
		{name: "fragmented control frame", chunks: [][]byte{clientFrame(false, OpPing, "x")}, wantCode: CloseProtocolError},
		{name: "control frame over 125 bytes", chunks: [][]byte{clientFrame(true, OpPing, long)}, wantCode: CloseProtocolError},
		{name: "continuation without a message", chunks: [][]byte{clientFrame(true, OpContinuation, "x")}, wantCode: CloseProtocolError},
		{name: "new message inside a fragmented one", chunks: [][]byte{cat(clientFrame(false, OpText, "a"), clientFrame(true, OpText, "b"))}, wantCode: CloseProtocolError},
		{name: "frame over the bound", chunks: [][]byte{clientFrame(true, OpText, strings.Repeat("y", 1001))}, wantCode: CloseTooBig},
		{name: "fragments over the bound", chunks: [][]byte{cat(clientFrame(false, OpText, strings.Repeat("y", 600)), clientFrame(true, OpContinuation, strings.Repeat("y", 401)))}, wantCode: CloseTooBig},
		{name: "invalid UTF-8 text", chunks: [][]byte{clientFrame(true, OpText, "\xff\xfe")}, wantCode: CloseInvalidPayload},
		{name: "close code that may not be sent", chunks: [][]byte{clientFrame(true, OpClose, "\x03\xed")}, wantCode: CloseProtocolError},
		{name: "binary is handed out", chunks: [][]byte{clientFrame(true, OpBinary, "\x00\x01")}, want: []got{{OpBinary, "\x00\x01"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Decoder{MaxMessage: 1000}
			out, err := decodeAll(t, d, tt.chunks...)
			if tt.wantCode != 0 {
				var pe *ProtocolError
				require.True(t, errors.As(err, &pe), "want a protocol error, got %v", err)
				assert.Equal(t, tt.wantCode, pe.Code, pe.Reason)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, out)
		})
	}
}

func split(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

func TestParseHeaderRejectsNonMinimalLengths(t *testing.T) {
	_, _, err := ParseHeader([]byte{0x81, 0x80 | 126, 0, 5, 1, 2, 3, 4})
	var pe *ProtocolError
	require.True(t, errors.As(err, &pe))
	b := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 5}
	_, _, err = ParseHeader(b)
	require.True(t, errors.As(err, &pe))
	binary.BigEndian.PutUint64(b[2:], 1<<63)
	_, _, err = ParseHeader(b)
	require.True(t, errors.As(err, &pe))
}

func TestAppendFrameLengths(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := AppendFrame(nil, true, OpText, make([]byte, n))
		h, hn, err := ParseHeader(f)
		require.NoError(t, err)
		assert.Equal(t, uint64(n), h.Length)
		assert.Equal(t, len(f), hn+n)
		assert.True(t, h.Fin)
		assert.False(t, h.Masked)
	}
	c := AppendClose(nil, CloseTooBig, strings.Repeat("r", 300))
	h, hn, err := ParseHeader(c)
	require.NoError(t, err)
	assert.Equal(t, uint64(125), h.Length)
	assert.Equal(t, CloseTooBig, CloseCode(c[hn:]))
}

func TestDecodeAllocatesNothingForWholeFrames(t *testing.T) {
	frame := clientFrame(true, OpText, "0123456789abcdef")
	buf := make([]byte, len(frame))
	d := &Decoder{MaxMessage: 1000}
	emit := func(Opcode, []byte) bool { return true }
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, frame)
		_, _ = d.Decode(buf, emit)
	})
	assert.Zero(t, allocs)
}

func TestParseRequest(t *testing.T) {
	req := "GET /tlslp?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nextra"
	for i := 0; i < len(req)-len("extra"); i++ {
		_, n, err := ParseRequest([]byte(req[:i]))
		require.NoError(t, err)
		require.Zero(t, n, "incomplete at %d", i)
	}
	r, n, err := ParseRequest([]byte(req))
	require.NoError(t, err)
	assert.Equal(t, len(req)-len("extra"), n)
	assert.Equal(t, Request{Method: "GET", Path: "/tlslp", Upgrade: true, Key: "dGhlIHNhbXBsZSBub25jZQ==", Version: "13", Host: "a"}, r)
	assert.True(t, r.SameOrigin(), "no Origin: not a browser page")
	for origin, same := range map[string]bool{"http://a": true, "https://A": true, "http://evil.example": false, "null": false} {
		r.Origin = origin
		assert.Equal(t, same, r.SameOrigin(), origin)
	}
	// RFC 6455 section 1.3's example.
	assert.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="))

	_, _, err = ParseRequest([]byte("NONSENSE\r\n\r\n"))
	assert.ErrorIs(t, err, ErrBadRequest)
	_, _, err = ParseRequest([]byte("GET / HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", MaxRequestBytes/8+1)))
	assert.ErrorIs(t, err, ErrRequestTooLarge)
	r, _, err = ParseRequest([]byte("GET / HTTP/1.1\r\nSec-WebSocket-Key: short\r\n\r\n"))
	require.NoError(t, err)
	assert.False(t, r.Upgrade)
	assert.Empty(t, r.Key)
}
