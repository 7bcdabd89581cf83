package transport_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testmetrics"
	"tlslpd/pow"
	"tlslpd/protocol"
	"tlslpd/transport"
	"tlslpd/wsframe"
)

func (s *server) dialRawWS(t *testing.T) *wsConn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.ports[transport.WS]), ioBound)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	return dialWS(t, raw, transport.DefaultPath)
}

// expectClose reads frames up to the server's close frame and returns its code.
func expectClose(t *testing.T, w *wsConn) uint16 {
	t.Helper()
	for {
		f, err := w.ReadFrame()
		require.NoError(t, err, "want a close frame")
		if f.op == wsframe.OpClose {
			return wsframe.CloseCode([]byte(f.payload))
		}
	}
}

func TestWebSocketEdgeCases(t *testing.T) {
	s := startServer(t)
	hello := func(t *testing.T, w *wsConn) {
		line, err := w.ReadLine()
		require.NoError(t, err)
		require.Equal(t, "HELLO", line)
	}
	tests := []struct {
		name string
		run  func(t *testing.T, w *wsConn)
	}{
		{"a line split across fragments, a ping between them", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteRaw(masked(false, wsframe.OpText, []byte("HELLO"))))
			require.NoError(t, w.WriteRaw(masked(true, wsframe.OpPing, []byte("are you there"))))
			f, err := w.ReadFrame()
			require.NoError(t, err)
			assert.Equal(t, frame{wsframe.OpPong, "are you there"}, f, "a ping inside a fragmented message is answered at once")
			require.NoError(t, w.WriteRaw(masked(true, wsframe.OpContinuation, []byte("BACK"))))
			line, err := w.ReadLine()
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(line, "WORK "), line)
		}},
		{"a frame split across TCP segments", func(t *testing.T, w *wsConn) {
			hello(t, w)
			f := masked(true, wsframe.OpText, []byte("HELLOBACK"))
			for _, b := range f {
				require.NoError(t, w.WriteRaw([]byte{b}))
			}
			line, err := w.ReadLine()
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(line, "WORK "), line)
		}},
		{"a trailing newline is optional", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteLine("HELLOBACK\n"))
			line, err := w.ReadLine()
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(line, "WORK "), line)
		}},
		{"several lines in one message are those lines in order", func(t *testing.T, w *wsConn) {
			hello(t, w)
			// HELLOBACK answers HELLO; the second line answers WORK (the
			// token is the default one) with a suffix that fails.
			bad := "x"
			for i := 0; pow.Valid(protocol.DefaultToken, bad, testNBits); i++ {
				bad = "x" + strconv.Itoa(i)
			}
			require.NoError(t, w.WriteLine("HELLOBACK\n"+bad))
			line, err := w.ReadLine()
			require.NoError(t, err)
			assert.Equal(t, "WORK "+protocol.DefaultToken+" "+strconv.Itoa(testNBits), line)
			line, err = w.ReadLine()
			require.NoError(t, err)
			assert.Equal(t, protocol.FailInvalidSuffix, line)
		}},
		{"unmasked client frame closes with 1002", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteRaw(wsframe.AppendFrame(nil, true, wsframe.OpText, []byte("HELLOBACK"))))
			assert.Equal(t, wsframe.CloseProtocolError, expectClose(t, w))
		}},
		{"oversized frame closes with 1009", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteRaw(masked(true, wsframe.OpText, []byte(strings.Repeat("x", protocol.MaxLineLength+1)))))
			assert.Equal(t, wsframe.CloseTooBig, expectClose(t, w))
		}},
		{"oversized fragments close with 1009 before the end", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteRaw(masked(false, wsframe.OpText, []byte(strings.Repeat("x", 800)))))
			require.NoError(t, w.WriteRaw(masked(false, wsframe.OpContinuation, []byte(strings.Repeat("x", 800)))))
			assert.Equal(t, wsframe.CloseTooBig, expectClose(t, w))
		}},
		{"a huge declared length closes with 1009 without waiting for it", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteRaw([]byte{0x81, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}))
			assert.Equal(t, wsframe.CloseTooBig, expectClose(t, w))
		}},
		{"binary message closes with 1003", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteRaw(masked(true, wsframe.OpBinary, []byte("HELLOBACK"))))
			assert.Equal(t, wsframe.CloseUnsupportedData, expectClose(t, w))
		}},
		{"invalid UTF-8 closes with 1007", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteRaw(masked(true, wsframe.OpText, []byte{0xff, 0xfe})))
			assert.Equal(t, wsframe.CloseInvalidPayload, expectClose(t, w))
		}},
		{"ping is answered with pong", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteRaw(masked(true, wsframe.OpPing, []byte("1234"))))
			f, err := w.ReadFrame()
			require.NoError(t, err)
			assert.Equal(t, frame{wsframe.OpPong, "1234"}, f)
		}},
		{"client close is answered and the connection closed", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteRaw(masked(true, wsframe.OpClose, []byte("\x03\xe8bye"))))
			assert.Equal(t, wsframe.CloseNormal, expectClose(t, w))
			_, err := w.ReadFrame()
			assert.ErrorIs(t, err, io.EOF, "the server closes the TCP connection after its close frame")
		}},
		{"server ends a session with a close frame", func(t *testing.T, w *wsConn) {
			hello(t, w)
			require.NoError(t, w.WriteLine("WRONG"))
			line, err := w.ReadLine()
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(line, "FAIL "), line)
			assert.Equal(t, wsframe.CloseNormal, expectClose(t, w))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, s.dialRawWS(t)) })
	}
}

func TestWebSocketOpeningHandshake(t *testing.T) {
	s := startServer(t)
	addr := "127.0.0.1:" + strconv.Itoa(s.ports[transport.WS])
	get := func(t *testing.T, req string) *http.Response {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = io.WriteString(c, req)
		require.NoError(t, err)
		_ = c.SetReadDeadline(time.Now().Add(ioBound))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	t.Run("the page", func(t *testing.T) {
		resp := get(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Contains(t, string(body), `content="/tlslp"`)
		assert.NotContains(t, string(body), "http://", "no external assets")
		assert.NotContains(t, string(body), "https://")
	})
	t.Run("wrong path", func(t *testing.T) {
		resp := get(t, "GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
	t.Run("another site's page", func(t *testing.T) {
		resp := get(t, "GET /tlslp HTTP/1.1\r\nHost: "+addr+"\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("old version", func(t *testing.T) {
		resp := get(t, "GET /tlslp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
		assert.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)
		assert.Equal(t, "13", resp.Header.Get("Sec-WebSocket-Version"))
	})
	t.Run("not an upgrade", func(t *testing.T) {
		resp := get(t, "POST /tlslp HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
	t.Run("garbage", func(t *testing.T) {
		resp := get(t, "HELLO\r\n\r\n")
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	// Each response is flushed by the connection's end, which counted it:
	// none of them was a TLS handshake.
	series := testmetrics.Scrape(t, s.metrics+"/metrics")
	for _, r := range []string{"failed", "abandoned", "not_tls", "ok"} {
		assert.Equal(t, 0.0, series.Get(t, `tlslpd_tls_handshakes_total{result="`+r+`"}`), r)
	}
	assert.Equal(t, 6.0, series.Get(t, `tlslpd_transport_connections_total{transport="ws"}`))
}

// TestNoGoroutinePerSession parks sessions at WORK on every plain
// transport and checks the goroutine count does not follow them.
func TestNoGoroutinePerSession(t *testing.T) {
	s := startServer(t, "--auto-wait", "50ms")
	const n = 40
	for _, name := range []string{transport.TCP, transport.Auto, transport.WS, transport.TLS, transport.WSS} {
		t.Run(name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			for i := 0; i < n; i++ {
				c := s.dial(t, name)
				upToWork(t, c)
			}
			// The client side holds no goroutines either (plain reads on
			// demand); anything that grew is the server's.
			after := runtime.NumGoroutine()
			assert.Less(t, after-before, n/4, fmt.Sprintf("%d goroutines for %d parked %s sessions", after-before, n, name))
		})
	}
}
