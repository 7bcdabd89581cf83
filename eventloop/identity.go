package eventloop

import "tlslpd/metrics"

// overIdentityLimit is the line a session over --max-conns-per-identity
// gets before the close: the handshake has completed, so the client can
// be told why in the protocol's own way.
var overIdentityLimit = []byte("FAIL Too many sessions for this client certificate.\n")

// acquireIdentity counts the session against its certificate's cap
// (Config.Identities); over it, the session is told so and ended, and
// acquireIdentity reports false.
func (s *session) acquireIdentity() bool {
	ids := s.srv.cfg.Identities
	if ids == nil || !ids.Limited() || !s.peer.HasCert {
		return true
	}
	if ids.Acquire(s.peer.Fingerprint) {
		s.identityHeld = true
		return true
	}
	if s.srv.met != nil {
		s.srv.met.Refused(metrics.RefusedMaxConnsPerIdentity)
	}
	s.srv.log.Debug().Str("remote", s.remote()).Str("fingerprint", fingerprintHex(s.peer.Fingerprint)).
		Str("subject", s.peer.Subject).Str("reason", metrics.RefusedMaxConnsPerIdentity).Msg("session refused")
	_ = s.engine.Write(overIdentityLimit)
	s.finish(ending{})
	return false
}
