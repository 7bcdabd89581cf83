// Package baseline is the idiomatic goroutine-per-connection tlslp server
// built on crypto/tls: tls.NewListener, Accept, one goroutine per
// connection, a bufio line reader and SetReadDeadline for the timeouts.
//
// It exists only as a yardstick for benchmarks and as a test target for the
// client and the load generator. It is deliberately simple and must stay
// unoptimised; it must not import or share code with the real server
// (eventloop, statemachine, tlsbridge, codec) and it does its own PoW check
// rather than calling tlslpd/pow, so it also cross-checks the solver.
package baseline
