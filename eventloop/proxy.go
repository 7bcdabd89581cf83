package eventloop

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tlslpd/metrics"
	"tlslpd/proxyproto"
	"tlslpd/transport"
)

// proxyStage says what a connection's first bytes must be when PROXY
// protocol is on (Config.ProxyFrom).
type proxyStage uint8

const (
	// proxyNone: PROXY protocol is off, or the header is behind us.
	proxyNone proxyStage = iota
	// proxyAwait: from a trusted balancer; a header must come first, and
	// the connection counts against no address until it names one.
	proxyAwait
	// proxyRefuse: from anyone else; a header is refused (a client must
	// not choose the address we log and limit), anything else is served.
	proxyRefuse
)

// rated: ip's failed handshakes count against it (see failBudget); a
// trusted balancer's own never do (its LOCAL health checks, a header not
// yet read), only the clients it names.
func (s *Server) rated(ip netip.Addr) bool { return s.proxyStageFor(ip) != proxyAwait }

func (s *Server) proxyStageFor(ip netip.Addr) proxyStage {
	if len(s.cfg.ProxyFrom) == 0 {
		return proxyNone
	}
	for _, p := range s.cfg.ProxyFrom {
		if p.Contains(ip) {
			return proxyAwait
		}
	}
	return proxyRefuse
}

// proxyPreamble runs on a connection's bytes before TLS sees any. It
// returns true once they may go on to TLS; false while the stage waits
// for more bytes, or after it refused the connection (finished it).
func (s *Server) proxyPreamble(c gnet.Conn, sess *session) bool {
	if sess.ended {
		return false // refused already; later bytes are not counted again
	}
	buf, _ := c.Peek(-1)
	switch sess.proxy {
	case proxyRefuse:
		switch proxyproto.Detect(buf) {
		case proxyproto.MaybeHeader:
			return false
		case proxyproto.IsHeader:
			s.refuseSession(sess, metrics.RefusedProxyUntrusted, nil)
			return false
		}
	case proxyAwait:
		h, n, err := proxyproto.Parse(buf)
		switch {
		case errors.Is(err, proxyproto.ErrIncomplete):
			return false
		case errors.Is(err, proxyproto.ErrNoHeader):
			s.refuseSession(sess, metrics.RefusedProxyMissing, nil)
			return false
		case err != nil:
			s.refuseSession(sess, metrics.RefusedProxyMalformed, err)
			return false
		}
		_, _ = c.Discard(n)
		if s.met != nil {
			s.met.ProxyHeader(h.Version)
		}
		if h.Command == proxyproto.Proxy {
			// The balancer's own address stays for LOCAL (its health
			// checks) and address-less headers.
			sess.addr = netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port())
		}
		if s.rated(sess.addr.Addr()) && !s.fails.admits(sess.addr.Addr()) {
			s.refuseSession(sess, metrics.RefusedFailedHandshakes, nil)
			return false
		}
		if !s.admitIP(sess.addr.Addr()) {
			s.refuseSession(sess, metrics.RefusedMaxConnsPerIP, nil)
			return false
		}
		sess.ip = sess.addr.Addr()
		// The engine was made before the client's address was known: the
		// client's connection starts now, as newSession and OnOpen would
		// have started it (auto-detect's wait, a plain listener's HELLO).
		sess.engine.Release()
		sess.engine = sess.listener.Engines.NewEngine(sess.ip, func() { _ = c.Wake(nil) })
		sess.proxy = proxyNone
		if w, ok := sess.engine.(transport.FirstByteWaiter); ok && w.FirstByteWait() > 0 {
			if at := time.Now().Add(w.FirstByteWait()); at.Before(sess.opened.Add(s.cfg.HandshakeTimeout)) {
				sess.firstByteWait = true
				sess.lp.wheel.Arm(&sess.timer, at)
			}
		}
		sess.startEarly()
		return !sess.ended
	}
	sess.proxy = proxyNone
	return true
}

// enterProxyStage puts a new session in its PROXY stage and reports
// whether the session must wait for a header before it starts. Until the
// header names the client nothing of the client's connection may begin:
// auto-detect's first-byte wait would judge the balancer's silence, so
// only the handshake deadline runs.
func (s *Server) enterProxyStage(sess *session, stage proxyStage) bool {
	sess.proxy = stage
	if stage != proxyAwait {
		return false
	}
	if sess.firstByteWait {
		sess.firstByteWait = false
		sess.lp.wheel.Arm(&sess.timer, sess.opened.Add(s.cfg.HandshakeTimeout))
	}
	return true
}

// refuseSession closes a connection that never reached TLS, counting why.
func (s *Server) refuseSession(sess *session, reason string, err error) {
	s.notice(noticeRefused, reason, sess.addr)
	s.log.Debug().Err(err).Str("remote", sess.remote()).Str("reason", reason).Msg("connection refused")
	sess.finish(ending{})
}

func remoteAddrPort(c gnet.Conn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
