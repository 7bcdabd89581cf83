// Package testenv is the one test environment the client and load
// generator tests share: a PKI made at test time, the baseline server and
// an in-process tlslpd on loopback ephemeral ports, and a port nobody
// listens on. Everything it starts stops when the test ends.
//
// Only _test.go files import it; it must never be linked into the daemon
// (it imports testing).
package testenv
