// Package pow owns the proof-of-work arithmetic of the WORK step of the TLS
// line protocol (PROTOCOL.md): a suffix is valid for a token when
// SHA256(token + suffix), read as a 256-bit big-endian number, ends in at
// least n_bits zero bits.
//
// It provides the counting of trailing zero bits (TrailingZeroBits, Meets),
// a zero-allocation Verifier that the server runs once per session, a plain
// oracle (Valid) and a multi-core Solver (Solve, SolveFrom) used by the
// client and the load generator.
//
// The package is pure computation: it must not do I/O, open sockets, log,
// read flags or the environment, or keep package-level mutable state. The
// only concurrency it owns is the worker goroutines of a single Solve call,
// which never outlive that call. Protocol constants (default token, maximum
// n_bits) belong to package protocol and are not duplicated here beyond the
// 0..64 range check.
package pow
