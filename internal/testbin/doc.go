// Package testbin is the test environment of the packages that drive the
// real tlslpd program (signals, files, exit codes, attacks, deployment,
// the benchmark suite): it builds the binary once per package (Main) or
// for the one test that needs it (Binary), lays out a working directory
// with a fresh PKI where the binary looks for it (Home), and runs the
// binary as a child process that is read while it runs and killed when
// the test ends (Launch, Start).
//
// Only _test.go files import it. Of the daemon it imports only certs, so
// internal tests of any package but certs and cli may use it; it must
// never be linked into the daemon (it imports testing).
package testbin
