// Package tlsbridge is tlslpd's memory-BIO TLS engine: the event loop feeds
// it ciphertext read from a socket, reads plaintext out of it, and collects
// the ciphertext to write back. It never touches a socket.
//
// It owns: the server's TLS policy (mutual TLS with CA verification unless
// Insecure, TLS 1.2 minimum with ECDHE+AEAD suites only, TLS 1.3 preferred,
// session tickets with crypto/tls's rotating keys), hot reload of that
// policy, the handshake slots that cap concurrent handshakes (a FIFO wait
// queue), per-engine buffers (pooled per Server, returned when empty), and
// a minimal TLS 1.3 record layer.
//
// How: crypto/tls performs every handshake over an in-memory net.Conn. Its
// handshake is written as blocking code, so it runs in a coroutine
// (iter.Pull): it starts once the first complete TLS record is buffered
// and a slot is free, runs on the owner's goroutine whenever the owner
// feeds bytes, and yields back when it needs more. It ends with the
// handshake, on Close/Release, or after Config.HandshakeTimeout. The
// coroutine (a runner) then waits in a bounded pool for the next
// handshake, so its
// stack, grown deep by crypto/tls, is not grown and copied again for every
// handshake; Server.Close ends the idle ones. Switching to and from a
// coroutine is a direct hand-off on the same thread, so unlike a
// goroutine per handshake it costs no scheduler wake-ups and needs no
// locks. The transport hands crypto/tls at most one record at a time, so
// records that follow the client's Finished stay buffered for the engine.
// After a TLS 1.3 handshake the engine drops the tls.Conn and runs its own
// record layer from the traffic secrets captured through a per-connection
// key log, so an idle session keeps two AEAD states instead of a whole
// tls.Conn; TLS 1.2 sessions keep the tls.Conn, driven without blocking.
// Engine.Park additionally drops the AEAD key schedules of an idle TLS 1.3
// session. Everything runs on the owner's goroutine; other goroutines only
// report (through the wake function) that a slot came free.
//
// It must not touch: sockets, gnet, the owner's timers, logging, metric
// registries or the line protocol; those belong to the server. Stats are
// plain counters for the owner to export.
package tlsbridge
