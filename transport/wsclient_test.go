package transport_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tlslpd/wsframe"
)

// wsConn is a minimal RFC 6455 client for tests: masked frames out,
// frames in through the package's own decoder (unmasked allowed).
type wsConn struct {
	c   net.Conn
	r   *bufio.Reader
	dec wsframe.Decoder
	buf []byte
	in  []frame // decoded, not yet taken
}

type frame struct {
	op      wsframe.Opcode
	payload string
}

// dialWS performs the opening handshake on c.
func dialWS(t *testing.T, c net.Conn, path string) *wsConn {
	t.Helper()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	k := base64.StdEncoding.EncodeToString(key)
	_, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, k)
	require.NoError(t, err)
	w := &wsConn{c: c, r: bufio.NewReader(c), dec: wsframe.Decoder{MaxMessage: 1 << 20, AllowUnmasked: true}}
	_ = c.SetReadDeadline(time.Now().Add(ioBound))
	resp, err := http.ReadResponse(w.r, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.Equal(t, wsframe.AcceptKey(k), resp.Header.Get("Sec-WebSocket-Accept"))
	return w
}

// masked builds one client frame.
func masked(fin bool, op wsframe.Opcode, payload []byte) []byte {
	f := wsframe.AppendFrame(nil, fin, op, payload)
	hn := len(f) - len(payload)
	out := append([]byte(nil), f[:hn]...)
	out[1] |= 0x80
	key := [4]byte{1, 2, 3, 4}
	_, _ = rand.Read(key[:])
	out = append(out, key[:]...)
	p := append([]byte(nil), payload...)
	wsframe.Unmask(p, key, 0)
	return append(out, p...)
}

func (w *wsConn) WriteRaw(b []byte) error { _, err := w.c.Write(b); return err }

func (w *wsConn) WriteLine(l string) error {
	return w.WriteRaw(masked(true, wsframe.OpText, []byte(l)))
}

// ReadFrame returns the next message or control frame from the server.
func (w *wsConn) ReadFrame() (frame, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(ioBound))
	for len(w.in) == 0 {
		var tmp [4096]byte
		n, err := w.r.Read(tmp[:])
		w.buf = append(w.buf, tmp[:n]...)
		used, derr := w.dec.Decode(w.buf, func(op wsframe.Opcode, p []byte) bool {
			w.in = append(w.in, frame{op, string(p)})
			return true
		})
		w.buf = w.buf[used:]
		if derr != nil {
			return frame{}, derr
		}
		if len(w.in) == 0 && err != nil {
			return frame{}, err
		}
	}
	f := w.in[0]
	w.in = w.in[1:]
	return f, nil
}

// ReadLine returns the next text message; a close frame reads as io.EOF.
func (w *wsConn) ReadLine() (string, error) {
	for {
		f, err := w.ReadFrame()
		if err != nil {
			return "", err
		}
		switch f.op {
		case wsframe.OpText:
			if strings.Contains(f.payload, "\n") {
				return "", fmt.Errorf("server message holds a newline: %q", f.payload)
			}
			return f.payload, nil
		case wsframe.OpClose:
			return "", io.EOF
		}
	}
}

func (w *wsConn) Close() error      { return w.c.Close() }
func (w *wsConn) LocalAddr() string { return w.c.LocalAddr().String() }
