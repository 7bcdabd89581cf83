// Package adversary holds hostile tlslp clients: stalled, silent,
// trickling handshakes and first records stopping short (Stall), floods of records without application
// data (TLS 1.3 KeyUpdates, empty records, warning alerts; TLS 1.2 empty
// records, warning alerts, renegotiation) with a byte of line data slipped
// between them (Flood), a pipeliner that never reads (Pipeline), each from
// chosen 127.0.0.x source addresses, plus the honest probe (Probe) whose
// experience they are meant to spoil. Its tests and benchmarks
// (make bench-hostile) run them against the real tlslpd binary on loopback
// and assert that the daemon's defences hold.
//
// It owns the attack clients and their client-side record layers (TLS 1.3
// records sealed from the key-logged traffic secret, TLS 1.2 AES-GCM
// records from the key-logged master secret), since crypto/tls offers no
// way to send a KeyUpdate, an empty record or an alert on purpose.
//
// It must not import the server's packages (eventloop, statemachine,
// tlsbridge, codec, daemon): an attacker that shared the server's code
// would share its assumptions. It shares only tlslpd/client, tlslpd/pow,
// tlslpd/protocol, tlslpd/certs and the load generator (bench/loadgen).
// Everything it dials must be loopback.
package adversary
