// Package tlsbridge is tlslpd's memory-BIO TLS engine: the event loop feeds
// it ciphertext read from a socket, reads plaintext out of it, and collects
// the ciphertext to write back. It never touches a socket.
//
// It owns: the server's TLS policy (the client-auth mode — CA-verified
// mutual TLS by default, any certificate, optional, none — and the
// Identity hook that judges the certificate, in clientauth.go; the
// certificate chosen by SNI, in sni.go; TLS 1.2 minimum with ECDHE+AEAD
// suites only, TLS 1.3 preferred, session tickets with crypto/tls's
// rotating keys), hot reload of that
// policy, handshake admission (slots for handshakes computing, a bound on
// those waiting for their peers), per-engine buffers (pooled per Server,
// returned when empty), and a minimal TLS 1.3 record layer.
//
// How: crypto/tls performs every handshake over an in-memory net.Conn (the
// transport). Its handshake is written as blocking code, so it runs in a
// coroutine (iter.Pull) on the owner's goroutine: it starts once the first
// complete TLS record is buffered, runs whenever the owner feeds bytes,
// and yields back when it needs more. Switching to and from a coroutine is
// a direct hand-off on the same thread: no scheduler wake-ups, no locks.
// Coroutines wait in a bounded pool between handshakes, so their stacks,
// grown deep by crypto/tls, are reused. The transport hands crypto/tls at
// most one record at a time, so records that follow the client's Finished
// stay buffered for the engine. The engine keeps no deadlines: the owner's
// deadline ends a handshake by Close.
//
// Admission (admissions): a handshake holds a slot only while crypto/tls
// computes; one that waits for its peer holds memory, not anyone's turn.
// Those suspended handshakes are bounded overall and per source address;
// past a bound the one that has waited longest is shed (ErrShed) — by its
// owner, woken for it, since everything of an engine happens on its
// owner's goroutine. Other goroutines only wake an owner: its slot came
// free, or its handshake was shed.
//
// After a TLS 1.3 handshake the engine drops the tls.Conn and runs its own
// record layer from the traffic secrets captured through a per-connection
// key log (keyLog), so an idle session keeps two AEAD states instead of a
// whole tls.Conn; TLS 1.2 sessions keep the tls.Conn, driven without
// blocking. Engine.Park additionally drops the AEAD key schedules of an
// idle TLS 1.3 session.
//
// Established peers are rated (abuse.go): records without application
// data — KeyUpdates, empty records, TLS 1.2 alerts and renegotiation — are
// bounded per connection and per unit of time by token buckets read
// against the monotonic clock when such a record arrives; no timer.
//
// Reading order: api.go (the contract), engine.go (Feed to Read/Write),
// handshake.go and transport.go (the coroutine and its net.Conn),
// admission.go, keylog.go, record13.go and abuse.go.
//
// It must not touch: sockets, gnet, the owner's timers, logging, metric
// registries or the line protocol; those belong to the server. Stats are
// plain counters for the owner to export.
package tlsbridge
