// Package testenv is the one test environment of the tests that serve
// tlslp in this process (client, load generator, transports, reports,
// interop): a PKI made at test time, the baseline server and an
// in-process tlslpd daemon on loopback ephemeral ports, and a port nobody
// listens on. Everything it starts stops when the test ends, or earlier
// when the test says (Tlslpd.Stop).
//
// Only _test.go files import it; it must never be linked into the daemon
// (it imports testing). The tests of the real binary as a child process
// use internal/testbin instead.
package testenv
