// Package verify is `tlslpd bench verify`: it measures PoW verification
// throughput (pow.Verifier.Check, one Verifier per goroutine) on one core
// and on all cores, beside a plain sha256.Sum256 of the same bytes measured
// in the same run, and reports both and their ratio.
//
// It owns only the measurement loop and its output. It must not import the
// server packages (eventloop, statemachine, tlsbridge, codec) and does not
// open sockets.
package verify
