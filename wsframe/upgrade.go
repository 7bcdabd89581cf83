package wsframe

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strings"
)

// MaxRequestBytes bounds the opening handshake's request (request line
// and headers); a longer one is refused.
const MaxRequestBytes = 8 << 10

// Request errors.
var (
	// ErrRequestTooLarge: no end of headers within MaxRequestBytes.
	ErrRequestTooLarge = errors.New("wsframe: request headers too large")
	// ErrBadRequest: not an HTTP/1.1 GET request.
	ErrBadRequest = errors.New("wsframe: malformed HTTP request")
)

// Request is the part of an HTTP request the opening handshake needs.
type Request struct {
	Method, Path string
	// Upgrade: the request asks for a WebSocket (Upgrade: websocket and
	// Connection: upgrade).
	Upgrade bool
	Key     string // Sec-WebSocket-Key, when valid (16 bytes in base64)
	Version string // Sec-WebSocket-Version
	Host    string // Host
	Origin  string // Origin (browsers send it; other clients usually not)
}

// SameOrigin reports whether a browser's request comes from a page of the
// host it connects to (or from no page: no Origin header). A page of
// another site must not drive sessions with the user's network position
// or client certificate (cross-site WebSocket hijacking).
func (r Request) SameOrigin() bool {
	if r.Origin == "" {
		return true
	}
	_, host, ok := strings.Cut(r.Origin, "://")
	return ok && strings.EqualFold(host, r.Host)
}

// ParseRequest reads an HTTP request's head from the start of b. It
// returns the request and the head's length, or n == 0 with a nil error
// while the head is incomplete.
func ParseRequest(b []byte) (Request, int, error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > MaxRequestBytes {
			return Request{}, 0, ErrRequestTooLarge
		}
		return Request{}, 0, nil
	}
	if end+4 > MaxRequestBytes {
		return Request{}, 0, ErrRequestTooLarge
	}
	head := string(b[:end])
	line, rest, _ := strings.Cut(head, "\r\n")
	parts := strings.Split(line, " ")
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "HTTP/1.") || parts[1] == "" || parts[1][0] != '/' {
		return Request{}, 0, ErrBadRequest
	}
	r := Request{Method: parts[0], Path: parts[1]}
	if i := strings.IndexByte(r.Path, '?'); i >= 0 {
		r.Path = r.Path[:i]
	}
	var upgrade, connUpgrade bool
	for rest != "" {
		var h string
		h, rest, _ = strings.Cut(rest, "\r\n")
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return Request{}, 0, ErrBadRequest
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "upgrade":
			upgrade = hasToken(value, "websocket")
		case "connection":
			connUpgrade = hasToken(value, "upgrade")
		case "sec-websocket-key":
			if k, err := base64.StdEncoding.DecodeString(value); err == nil && len(k) == 16 {
				r.Key = value
			}
		case "sec-websocket-version":
			r.Version = value
		case "host":
			r.Host = value
		case "origin":
			r.Origin = value
		}
	}
	r.Upgrade = upgrade && connUpgrade
	return r, end + 4, nil
}

// hasToken reports whether a comma-separated header value lists token
// (case-insensitive).
func hasToken(value, token string) bool {
	for _, t := range strings.Split(value, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// AcceptKey is Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// AppendSwitching appends the 101 response accepting key.
func AppendSwitching(dst []byte, key string) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, AcceptKey(key)...)
	return append(dst, "\r\n\r\n"...)
}

// AppendResponse appends a complete HTTP/1.1 response that closes the
// connection (a page, or an error with a one-line text body).
func AppendResponse(dst []byte, status, contentType string, body []byte, extra ...string) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = append(dst, status...)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, contentType...)
	dst = append(dst, "\r\nContent-Length: "...)
	dst = appendInt(dst, len(body))
	dst = append(dst, "\r\nConnection: close\r\nCache-Control: no-store\r\n"...)
	for _, h := range extra {
		dst = append(dst, h...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

func appendInt(dst []byte, n int) []byte {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}
