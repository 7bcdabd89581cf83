package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"tlslpd/protocol"
	"tlslpd/tlsbridge"
	"tlslpd/wsframe"
)

// ErrWebSocket is wrapped by a WebSocket engine's failures: a bad opening
// handshake or a framing violation (wrapping the *wsframe.ProtocolError).
var ErrWebSocket = errors.New("websocket")

// ErrServedPage: the connection asked for the page, got it, and ended;
// it never was a session.
var ErrServedPage = errors.New("websocket: served the page")

// WSFactory makes WebSocket engines over Inner (PlainFactory for ws://,
// the TLS server for wss://).
//
// Lines: one text message carries one line; a trailing "\n" is optional.
// A message with a "\n" inside is the lines it holds, sent one after
// another, as they would be over TCP. Each line the server sends is one
// text message without its "\n". Binary messages are refused (close
// 1003), messages over protocol.MaxLineLength bytes close with 1009,
// unmasked client frames with 1002.
type WSFactory struct {
	Inner Factory
	Name  string // WS or WSS, for Transport()
	Path  string // the endpoint; "" means DefaultPath
	// Page, if set, is served (text/html) to a plain GET of Path or "/":
	// the browser client.
	Page []byte
}

// NewEngine makes one engine awaiting the opening handshake.
func (f *WSFactory) NewEngine(addr netip.Addr, wake func()) tlsbridge.Engine {
	return &wsEngine{f: f, inner: f.Inner.NewEngine(addr, wake), dec: wsframe.Decoder{MaxMessage: protocol.MaxLineLength}}
}

type wsStage uint8

const (
	wsUpgrading  wsStage = iota // reading the HTTP request
	wsOpen                      // messages flow
	wsPeerClosed                // the peer's close frame came (answered); lines left drain, then EOF
	wsClosed                    // our Close: close frame sent
	wsFailed                    // bad request or framing: response or close frame queued
)

type wsEngine struct {
	f     *WSFactory
	inner tlsbridge.Engine
	dec   wsframe.Decoder
	stage wsStage
	err   error
	raw   []byte // inner plaintext not yet consumed (request head, partial frames)
	lines []byte // decoded lines for Read
	sent  bool   // our close frame is queued
	scr   []byte // scratch for frames we send
}

func (e *wsEngine) path() string {
	if e.f.Path == "" {
		return DefaultPath
	}
	return e.f.Path
}

// Feed runs the inner engine, then the opening handshake and the frames
// its plaintext holds.
func (e *wsEngine) Feed(b []byte) error {
	if err := e.inner.Feed(b); err != nil {
		return err
	}
	if e.inner.State() != tlsbridge.Established || e.stage >= wsPeerClosed {
		return e.Err()
	}
	var tmp [4096]byte
	for {
		n, err := e.inner.Read(tmp[:])
		e.raw = append(e.raw, tmp[:n]...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break // the inner engine's close_notify; State reports it
			}
			return err
		}
		if n == 0 {
			break
		}
	}
	if e.stage == wsUpgrading {
		e.upgrade()
	}
	if e.stage == wsOpen {
		e.frames()
	}
	e.flushRaw()
	return e.Err()
}

// upgrade answers the opening handshake once its head is buffered.
func (e *wsEngine) upgrade() {
	req, n, err := wsframe.ParseRequest(e.raw)
	switch {
	case err != nil:
		e.refuse("400 Bad Request", err.Error())
		return
	case n == 0:
		return
	}
	e.raw = e.raw[:copy(e.raw, e.raw[n:])]
	switch {
	case req.Method != "GET":
		e.refuse("405 Method Not Allowed", "only GET")
	case !req.Upgrade && e.f.Page != nil && (req.Path == e.path() || req.Path == "/"):
		e.scr = wsframe.AppendResponse(e.scr[:0], "200 OK", "text/html; charset=utf-8", e.f.Page,
			"Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline' blob:; worker-src blob:; style-src 'unsafe-inline'; connect-src 'self'")
		_ = e.inner.Write(e.scr)
		e.stage, e.err = wsFailed, ErrServedPage
	case req.Path != e.path():
		e.refuse("404 Not Found", "no WebSocket endpoint at "+req.Path+"; it is at "+e.path())
	case !req.SameOrigin():
		e.refuse("403 Forbidden", "WebSocket from another site's page (Origin "+req.Origin+")")
	case !req.Upgrade || req.Key == "":
		e.refuse("400 Bad Request", "want a WebSocket upgrade (Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key)")
	case req.Version != "13":
		e.scr = wsframe.AppendResponse(e.scr[:0], "426 Upgrade Required", "text/plain; charset=utf-8", []byte("WebSocket version 13 only\n"), "Sec-WebSocket-Version: 13")
		_ = e.inner.Write(e.scr)
		e.stage, e.err = wsFailed, fmt.Errorf("%w: opening handshake: version %q", ErrWebSocket, req.Version)
	default:
		e.scr = wsframe.AppendSwitching(e.scr[:0], req.Key)
		_ = e.inner.Write(e.scr)
		e.stage = wsOpen
	}
}

func (e *wsEngine) refuse(status, why string) {
	e.scr = wsframe.AppendResponse(e.scr[:0], status, "text/plain; charset=utf-8", []byte(why+"\n"))
	_ = e.inner.Write(e.scr)
	e.stage, e.err = wsFailed, fmt.Errorf("%w: opening handshake: %s", ErrWebSocket, why)
}

// frames decodes every complete frame in raw.
func (e *wsEngine) frames() {
	n, err := e.dec.Decode(e.raw, e.onFrame)
	e.raw = e.raw[:copy(e.raw, e.raw[n:])]
	if err != nil {
		var pe *wsframe.ProtocolError
		if errors.As(err, &pe) {
			e.fail(pe)
		}
	}
}

func (e *wsEngine) onFrame(op wsframe.Opcode, p []byte) bool {
	switch op {
	case wsframe.OpText:
		e.lines = append(e.lines, p...)
		if len(p) == 0 || p[len(p)-1] != '\n' {
			e.lines = append(e.lines, '\n')
		}
	case wsframe.OpBinary:
		e.fail(&wsframe.ProtocolError{Code: wsframe.CloseUnsupportedData, Reason: "binary message; send text lines"})
		return false
	case wsframe.OpPing:
		e.scr = wsframe.AppendFrame(e.scr[:0], true, wsframe.OpPong, p)
		_ = e.inner.Write(e.scr)
	case wsframe.OpClose:
		// Answer with the peer's code, as RFC 6455 5.5.1 suggests.
		code := wsframe.CloseCode(p)
		e.sendClose(code, "")
		e.stage = wsPeerClosed
		return false
	}
	return true
}

// fail answers a framing violation with a close frame carrying its code.
func (e *wsEngine) fail(pe *wsframe.ProtocolError) {
	e.sendClose(pe.Code, pe.Reason)
	e.stage, e.err = wsFailed, fmt.Errorf("%w: %w", ErrWebSocket, pe)
}

func (e *wsEngine) sendClose(code uint16, reason string) {
	if e.sent {
		return
	}
	e.sent = true
	e.scr = wsframe.AppendClose(e.scr[:0], code, reason)
	_ = e.inner.Write(e.scr)
}

// flushRaw drops the raw buffer's array when empty and large.
func (e *wsEngine) flushRaw() {
	if len(e.raw) == 0 && cap(e.raw) > 16<<10 {
		e.raw = nil
	}
}

func (e *wsEngine) Read(p []byte) (int, error) {
	n := copy(p, e.lines)
	e.lines = e.lines[:copy(e.lines, e.lines[n:])]
	if n == 0 && e.stage == wsPeerClosed {
		return 0, io.EOF
	}
	return n, nil
}

// Write sends each line of p as one text message.
func (e *wsEngine) Write(p []byte) error {
	switch e.stage {
	case wsUpgrading:
		return tlsbridge.ErrNotEstablished
	case wsOpen:
	default:
		return tlsbridge.ErrClosed
	}
	e.scr = e.scr[:0]
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		e.scr = wsframe.AppendFrame(e.scr, true, wsframe.OpText, line)
	}
	return e.inner.Write(e.scr)
}

func (e *wsEngine) AppendOutgoing(dst []byte) []byte { return e.inner.AppendOutgoing(dst) }

func (e *wsEngine) State() tlsbridge.State {
	switch e.stage {
	case wsFailed:
		return tlsbridge.Failed
	case wsClosed:
		return tlsbridge.Closed
	case wsUpgrading:
		if s := e.inner.State(); s != tlsbridge.Established {
			return s
		}
		return tlsbridge.Handshaking
	}
	if s := e.inner.State(); s == tlsbridge.Failed {
		return s
	}
	return tlsbridge.Established // wsPeerClosed included: Read drains, then io.EOF
}

func (e *wsEngine) Err() error {
	if e.err != nil {
		return e.err
	}
	return e.inner.Err()
}

func (e *wsEngine) Peer() tlsbridge.Peer { return e.inner.Peer() }

// Close ends the WebSocket with a normal close frame (unless one was
// sent) and closes the inner engine behind it.
func (e *wsEngine) Close() {
	if e.stage == wsOpen || e.stage == wsPeerClosed {
		e.sendClose(wsframe.CloseNormal, "")
	}
	if e.stage != wsFailed {
		e.stage = wsClosed
	}
	e.inner.Close()
}

func (e *wsEngine) Park() {
	if len(e.raw) == 0 {
		e.raw = nil
	}
	if len(e.lines) == 0 {
		e.lines = nil
	}
	e.scr = nil
	e.dec.Release()
	e.inner.Park()
}

func (e *wsEngine) Release() {
	e.inner.Release()
	e.raw, e.lines, e.scr = nil, nil, nil
	e.stage = wsClosed
}

// Transport names ws or wss.
func (e *wsEngine) Transport() string { return e.f.Name }
