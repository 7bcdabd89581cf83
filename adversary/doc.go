// Package adversary holds hostile tlslp clients: stalled and trickling
// handshakes, TLS 1.3 KeyUpdate and empty-record floods, a pipeliner that
// never reads, each from chosen 127.0.0.x source addresses, plus the honest
// probe whose experience they are meant to spoil. Its tests and benchmarks
// (make bench-hostile) run them against the real tlslpd binary on loopback
// and assert that the daemon's defences hold.
//
// It owns the attack clients and their client-side TLS 1.3 record layer
// (sealing records from the key-logged traffic secret, since crypto/tls
// offers no way to send a KeyUpdate or an empty record on purpose).
//
// It must not import the server's packages (eventloop, statemachine,
// tlsbridge, codec, daemon): an attacker that shared the server's code
// would share its assumptions. It shares only tlslpd/client, tlslpd/pow,
// tlslpd/protocol, tlslpd/certs and the load generator (bench/loadgen).
// Everything it dials must be loopback.
package adversary
