// Package identity names TLS clients by their certificate, the jetforce
// way: an identity is the SHA-256 fingerprint of the client's leaf
// certificate, whoever signed it.
//
// It owns: fingerprints (parse, print), transient self-signed client
// certificates (for the client and the load generator), the identity
// rules — an allow list and a deny list of fingerprints read from files
// and reloaded on request, and the per-identity connection cap — and the
// count of each rule decision.
//
// It must not touch: sockets, TLS handshakes (tlsbridge calls Check from
// its certificate verification), sessions (the event loop calls
// Acquire/Release) or logging.
package identity
