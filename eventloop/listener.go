package eventloop

import (
	"net"
	"net/netip"

	"github.com/panjf2000/gnet/v2"

	"tlslpd/tlsbridge"
	"tlslpd/transport"
)

// Listener is one listen address and the transport it serves.
type Listener struct {
	Addr      string        // gnet address, e.g. "tcp://127.0.0.1:1234"
	Transport string        // transport name (transport.TLS when empty), for logs, records and metrics
	Engines   EngineFactory // one engine per connection; nil means Config.Engines
}

// listener is a Listener with what Run learnt about it.
type listener struct {
	Listener
	bound netip.AddrPort // from the socket, after OnBoot; its address may be unspecified
}

// listenersOf resolves cfg's listeners: Listeners, or Addrs with Engines
// serving TLS.
func listenersOf(cfg *Config) []*listener {
	var out []*listener
	if len(cfg.Listeners) == 0 {
		for _, a := range cfg.Addrs {
			out = append(out, &listener{Listener: Listener{Addr: a, Transport: transport.TLS, Engines: cfg.Engines}})
		}
		return out
	}
	for _, l := range cfg.Listeners {
		if l.Transport == "" {
			l.Transport = transport.TLS
		}
		if l.Engines == nil {
			l.Engines = cfg.Engines
		}
		out = append(out, &listener{Listener: l})
	}
	return out
}

// listenerFor finds the listener that accepted c by its local address
// (each listener has its own address; a wildcard one matches any address
// on its port).
func (s *Server) listenerFor(c gnet.Conn) *listener {
	if len(s.listeners) == 1 {
		return s.listeners[0]
	}
	a, _ := c.LocalAddr().(*net.TCPAddr)
	if a == nil {
		return s.listeners[0]
	}
	local := a.AddrPort()
	var wildcard *listener
	for _, l := range s.listeners {
		if l.bound.Port() != local.Port() {
			continue
		}
		if l.bound.Addr().Unmap() == local.Addr().Unmap() {
			return l
		}
		if l.bound.Addr().IsUnspecified() {
			wildcard = l
		}
	}
	if wildcard != nil {
		return wildcard
	}
	return s.listeners[0]
}

// transportName is the connection's transport: what its engine turned
// out to be (auto: tls or tcp), or its listener's.
func (s *session) transportName() string {
	if n, ok := s.engine.(transport.Named); ok {
		return n.Transport()
	}
	return s.listener.Transport
}

// countsTLSHandshake: the connection's opening is a TLS handshake (on
// wss, TLS and the WebSocket upgrade count as one), so its end is counted
// in tlslpd_tls_handshakes_total.
func countsTLSHandshake(name string) bool {
	return name == transport.TLS || name == transport.WSS || name == transport.Auto
}

// startEarly starts a session whose engine needs no bytes from the peer
// (plain: the server speaks first); called once the connection is
// admitted and any PROXY header is behind it.
func (s *session) startEarly() {
	if s.engine.State() == tlsbridge.Established {
		s.pump()
	}
}

// transportServedPage: a WebSocket listener served its page; no handshake
// to count.
var transportServedPage = transport.ErrServedPage
