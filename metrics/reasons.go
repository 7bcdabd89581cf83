package metrics

// The label values of the refusal, shed and handshake counters: one
// vocabulary for metrics and the log lines that report the same events.
const (
	// Refusals: the connection is turned away by policy.
	RefusedDraining      = "draining"         // the server is shutting down
	RefusedMaxConns      = "max_conns"        // --max-conns reached
	RefusedMaxConnsPerIP = "max_conns_per_ip" // --max-conns-per-ip reached
	RefusedTutorialBusy  = "tutorial_busy"    // the one tutorial session is taken
	// RefusedFailedHandshakes: the source address spent its budget of
	// handshakes that end without completing (--failed-handshakes-per-ip).
	RefusedFailedHandshakes = "failed_handshakes"
	// --max-conns-per-identity reached (after the handshake: the identity
	// is the client certificate's fingerprint).
	RefusedMaxConnsPerIdentity = "max_conns_per_identity"

	// Sheds: the connection is closed to protect the server.
	ShedOverload    = "overload"     // handshakes queue longer than a client waits
	ShedBufferLimit = "buffer_limit" // the peer does not read what it is sent
	// ShedUnansweredAtCapacity: at --max-conns, the oldest connection not
	// answered yet (silent, or a partial hello) gave its place to a newcomer.
	ShedUnansweredAtCapacity = "unanswered_at_capacity"
	// ShedUnansweredBytes: the connections not answered yet held more
	// bytes than their budget; the oldest gave its place.
	ShedUnansweredBytes = "unanswered_bytes"

	// Handshake results.
	HandshakeOK             = "ok"
	HandshakeTimeout        = "timeout"         // the handshake deadline passed
	HandshakeAbandoned      = "abandoned"       // the peer closed before it completed
	HandshakeNotTLS         = "not_tls"         // the first bytes were not TLS
	HandshakeBadCertificate = "bad_certificate" // the client certificate was missing or did not verify
	HandshakeFailed         = "failed"          // any other handshake error
	HandshakeCanceled       = "canceled"        // ended by the server (shutdown, shed)
)

// RefusedReasons, ShedReasons and HandshakeResults list every label value,
// so each series exists from startup.
func RefusedReasons() []string {
	return []string{RefusedDraining, RefusedMaxConns, RefusedMaxConnsPerIP, RefusedTutorialBusy, RefusedMaxConnsPerIdentity,
		RefusedFailedHandshakes, RefusedProxyUntrusted, RefusedProxyMalformed, RefusedProxyMissing}
}

func ShedReasons() []string {
	return []string{ShedOverload, ShedBufferLimit, ShedUnansweredAtCapacity, ShedUnansweredBytes}
}

func HandshakeResults() []string {
	return []string{HandshakeOK, HandshakeTimeout, HandshakeAbandoned, HandshakeNotTLS, HandshakeBadCertificate, HandshakeFailed, HandshakeCanceled}
}
