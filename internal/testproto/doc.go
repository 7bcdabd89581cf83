// Package testproto answers the tlslp protocol's questions for tests that
// play the client by hand: a WORK suffix that meets n_bits, one that does
// not, and the checksum a body reply carries. It checks suffixes with
// pow.Valid, the plain sha256 oracle, so a test does not take its answers
// from the fast verifier it may be testing.
//
// Only _test.go files import it; it imports nothing of tlslpd but pow, so
// internal tests of any package but pow may use it.
package testproto
