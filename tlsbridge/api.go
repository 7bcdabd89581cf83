package tlsbridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// State is where an engine is in its life.
type State uint8

const (
	// Handshaking: no application data yet; the handshake may be waiting
	// for peer bytes, for a handshake slot, or running.
	Handshaking State = iota
	// Established: Read and Write carry application data.
	Established
	// Closed: close_notify was sent or received; no more application data.
	Closed
	// Failed: the engine hit an error (see Err); outgoing bytes may still
	// hold an alert worth flushing before the socket is closed.
	Failed
)

func (s State) String() string {
	switch s {
	case Handshaking:
		return "handshaking"
	case Established:
		return "established"
	case Closed:
		return "closed"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Sentinel errors callers branch on. Engine errors wrap one of these.
var (
	// ErrNotTLS: the peer's first bytes are not a TLS record.
	ErrNotTLS = errors.New("tlsbridge: peer did not speak TLS")
	// ErrHandshake: the handshake failed (verification, protocol, alert).
	ErrHandshake = errors.New("tlsbridge: handshake failed")
	// ErrBadRecord: an established session received a record that does not
	// decrypt or parse.
	ErrBadRecord = errors.New("tlsbridge: bad record")
	// ErrClosed: the engine was closed by its owner or by close_notify.
	ErrClosed = errors.New("tlsbridge: closed")
	// ErrNotEstablished: Write before the handshake completed.
	ErrNotEstablished = errors.New("tlsbridge: handshake not complete")
	// ErrPeerAlert: an established session received a fatal alert from the
	// peer (anything but close_notify).
	ErrPeerAlert = errors.New("tlsbridge: peer sent an alert")
	// ErrPeerAbuse: an established peer sent more records without
	// application data (KeyUpdates, empty records, alerts, renegotiation)
	// than a session needs, per unit of time; the error also wraps one of
	// ErrTooManyKeyUpdates, ErrTooManyEmptyRecords, ErrTooManyAlerts or
	// ErrRenegotiation.
	ErrPeerAbuse = errors.New("tlsbridge: peer abuse")
	// ErrShed: the handshake waited for its peer while the suspended
	// handshakes were at a bound, and was ended to make room (see
	// Config.MaxSuspendedHandshakes).
	ErrShed = errors.New("tlsbridge: handshake shed")
)

// Peer summarises the authenticated peer for logs and session records.
type Peer struct {
	Subject     string   // client certificate subject, "" when none
	Fingerprint [32]byte // SHA-256 of the client certificate DER, zero when none
	HasCert     bool
	ServerName  string // the server name the client asked for (SNI), lowercased; "" when none
	Version     uint16 // tls.VersionTLS12 / tls.VersionTLS13
	CipherSuite uint16
	Resumed     bool
}

// Config is the per-server TLS policy.
type Config struct {
	Certificate tls.Certificate
	// ClientCAs verifies client certificates; required in the verify and
	// optional client-auth modes.
	ClientCAs *x509.CertPool
	// Insecure: do not request a client certificate (the reference's
	// spelling of ClientAuthNone).
	Insecure bool
	// ClientAuth is the client-certificate policy; the zero value is
	// ClientAuthVerify.
	ClientAuth ClientAuth
	// SNI are further certificates, each served to clients asking for its
	// name; Certificate serves names that match none, and clients that
	// send none.
	SNI []SNICertificate
	// Identity, when set, judges every handshake's client certificate
	// (leaf nil: none presented) once the client-auth mode has accepted
	// it, resumed sessions included; an error refuses the handshake with
	// a bad_certificate alert (wrapped in ErrIdentityRefused). Called on
	// the owner's goroutine; it must not block.
	Identity func(leaf *x509.Certificate) error
	// MaxHandshakes caps handshakes computing at once: a handshake holds
	// one of these slots only while crypto/tls works on bytes it has, never
	// while it waits for its peer. Excess handshakes wait in FIFO order
	// (counted in Stats). An owner computes one handshake at a time, so a
	// cap at or above the number of owner goroutines never makes one wait;
	// set it lower to keep cores for established sessions. 0 means one per
	// core.
	MaxHandshakes int
	// MaxSuspendedHandshakes bounds handshakes waiting for their peer's
	// bytes, each holding its coroutine and crypto/tls's state; past it
	// the one that has waited longest without progress is shed (ErrShed).
	// 0 means 2048.
	MaxSuspendedHandshakes int
	// MaxSuspendedPerAddr bounds the suspended handshakes of one source
	// address (IPv6: one /64); past it that address's longest waiting one
	// is shed. 0 means half of MaxSuspendedHandshakes.
	MaxSuspendedPerAddr int
}

// Stats are cumulative counters and gauges of a Server, safe to read from
// any goroutine.
type Stats struct {
	HandshakesInFlight  int64 // begun and not ended, in any stage
	HandshakesComputing int64 // holding a slot (MaxHandshakes) right now
	HandshakesSuspended int64 // waiting for their peer's bytes right now
	HandshakesQueued    int64 // waiting for a slot right now
	HandshakesWaited    int64 // total that ever had to wait for a slot
	HandshakesOK        int64
	HandshakesFailed    int64
	HandshakesCanceled  int64 // ended by the owner's Close/Release mid-handshake
	// Suspended handshakes shed (ErrShed) because MaxSuspendedHandshakes
	// was reached and they had waited longest.
	HandshakesShedStalled int64
	// Suspended handshakes shed because their source address was over
	// MaxSuspendedPerAddr.
	HandshakesShedAddrShare int64
	Resumed                 int64
	IdleCoroutines          int64 // handshake coroutines kept for the next handshakes
	// Established engines failed because their peer went past a bound on
	// records without application data, by reason (ErrPeerAbuse).
	AbuseKeyUpdates     int64
	AbuseEmptyRecords   int64
	AbuseAlerts         int64
	AbuseRenegotiations int64
	// Handshakes refused (ErrPenalized) because their source address had
	// a session closed for abuse moments before.
	HandshakesPenalized int64
}

// Engine is one connection's TLS endpoint: ciphertext in, plaintext out,
// ciphertext to send handed out. It never touches a socket.
//
// Threading: every method is called from the owner's goroutine (the
// connection's event loop) only; the handshake runs inside Feed as a
// coroutine on that goroutine. The wake function given to NewEngine is
// called from other goroutines when a handshake slot came free for a
// queued engine; the owner answers with Feed(nil).
//
// Deadlines are the owner's: the engine keeps no clock. An owner whose
// handshake deadline passes calls Close (or Release), which ends the
// handshake wherever it stands.
type Engine interface {
	// Feed hands over ciphertext received from the peer (it copies what it
	// keeps and never blocks) and runs the handshake as far as the
	// buffered bytes allow: it starts it once the first record is
	// complete, resumes it where it waits for bytes, and takes its result
	// when it ends. Feed(nil) runs it without new bytes, after the wake
	// function said a slot came free. It returns the error that ended the
	// engine, if one did.
	Feed(ciphertext []byte) error
	// Read decrypts buffered application data into p. It returns (0, nil)
	// when no complete record is buffered; io.EOF after the peer's
	// close_notify; an error wrapping ErrBadRecord on a bad record.
	Read(p []byte) (int, error)
	// Write encrypts p into records queued for sending. Fails with
	// ErrNotEstablished before the handshake completes.
	Write(p []byte) error
	// AppendOutgoing appends all ciphertext waiting to be sent to dst,
	// forgets it, and returns the extended slice.
	AppendOutgoing(dst []byte) []byte
	// State reports the engine's state; Err the error that ended it. Like
	// Peer they only read: the state changes inside Feed, Close and
	// Release.
	State() State
	Err() error
	// Peer is valid once State() has been Established.
	Peer() Peer
	// Close queues close_notify (if established) and stops any handshake
	// in flight; that handshake has ended, and its coroutine is back in
	// the pool, when Close returns.
	Close()
	// Park tells an established engine that its session is about to sit
	// idle (e.g. waiting minutes for a WORK reply): it drops cipher state
	// that can be rebuilt (TLS 1.3 AEAD key schedules), and the next
	// Read/Write rebuilds it at the cost of two allocations. A
	// no-op in other states and for TLS 1.2.
	Park()
	// Release frees everything the engine holds; the engine must not be
	// used afterwards. Safe to call after Close or instead of it.
	Release()
}
