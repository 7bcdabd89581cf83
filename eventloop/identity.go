package eventloop

import (
	"unicode/utf8"

	"tlslpd/metrics"
)

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
		Str("subject", boundedSubject(s.peer.Subject)).Str("reason", metrics.RefusedMaxConnsPerIdentity).Msg("session refused")
	_ = s.engine.Write(overIdentityLimit)
	s.finish(ending{})
	return false
}

// maxSubjectBytes bounds the client certificate subject a record and its
// log line carry. With --client-auth any the subject is whatever the
// client wrote into its own certificate (tens of KiB fit in a handshake);
// the fingerprint, not the subject, is the identity.
const maxSubjectBytes = 512

// boundedSubject cuts a subject longer than maxSubjectBytes at a UTF-8
// boundary and marks the cut.
func boundedSubject(s string) string {
	if len(s) <= maxSubjectBytes {
		return s
	}
	cut := maxSubjectBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
