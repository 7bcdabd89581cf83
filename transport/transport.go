package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"tlslpd/tlsbridge"
)

// Transport names: listen address schemes, and the label logs, records
// and metrics name a connection's transport with.
const (
	TLS  = "tls"  // TLS (the default, the reference's only transport)
	TCP  = "tcp"  // plain TCP, no encryption
	Auto = "auto" // TLS or plain, decided on the first byte
	WS   = "ws"   // WebSocket over plain TCP
	WSS  = "wss"  // WebSocket over TLS
)

// Names lists every transport.
func Names() []string { return []string{TLS, TCP, Auto, WS, WSS} }

// DefaultPath is the WebSocket endpoint's path when the address names none.
const DefaultPath = "/tlslp"

// Plain reports whether a transport can carry a session unencrypted
// (auto does, for a client that does not start with TLS).
func Plain(name string) bool { return name == TCP || name == Auto || name == WS }

// Encrypted reports whether a transport can carry a session over TLS, and
// so needs the server's certificate (auto does, for a client that starts
// with TLS).
func Encrypted(name string) bool { return name == TLS || name == Auto || name == WSS }

// Factory makes one engine per connection; *tlsbridge.Server is one.
type Factory interface {
	NewEngine(addr netip.Addr, wake func()) tlsbridge.Engine
}

// Named is an engine that can say which transport it turned out to be
// (auto: tls or tcp once decided).
type Named interface {
	Transport() string
}

// FirstByteWaiter is an engine that decides something if its peer stays
// silent: its owner calls WaitOver once FirstByteWait has passed since the
// connection opened without the engine having decided. A wait of 0 means
// nothing to wait for.
type FirstByteWaiter interface {
	FirstByteWait() time.Duration
	WaitOver()
}

// ErrListen is wrapped by listen address errors.
var ErrListen = errors.New("invalid listen address")

// Listen is one parsed listen address.
type Listen struct {
	Transport string
	Host      string // as written, brackets removed
	Port      string
	Path      string // WebSocket path (ws, wss); "" otherwise
}

// ParseListen reads "[scheme://]host:port[/path]": scheme one of Names
// (default tls); a path only for ws and wss (default DefaultPath).
func ParseListen(s string) (Listen, error) {
	l := Listen{Transport: TLS}
	rest := s
	if scheme, after, ok := strings.Cut(s, "://"); ok {
		l.Transport = strings.ToLower(scheme)
		rest = after
		switch l.Transport {
		case TLS, TCP, Auto, WS, WSS:
		default:
			return l, fmt.Errorf("%w: unknown scheme %q (want %s)", ErrListen, scheme, strings.Join(Names(), ", "))
		}
	}
	hostPort := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostPort, l.Path = rest[:i], rest[i:]
		if l.Transport != WS && l.Transport != WSS {
			return l, fmt.Errorf("%w: a path is only for ws:// and wss://", ErrListen)
		}
	}
	if (l.Transport == WS || l.Transport == WSS) && l.Path == "" {
		l.Path = DefaultPath
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return l, fmt.Errorf("%w: want [scheme://]host:port", ErrListen)
	}
	l.Host, l.Port = strings.Trim(host, "[]"), port
	return l, nil
}

// String writes the address back with its scheme.
func (l Listen) String() string {
	return l.Transport + "://" + net.JoinHostPort(l.Host, l.Port) + l.Path
}
