// Package leanclient plays whole tlslp sessions back to back, over plain
// TCP or TLS, with as little client CPU as a correct client can spend: no
// per-step timing, no records, the WORK suffix solved once per token. It
// is the client of the transports measurements (bench/suite's transports
// section and bench/transports), where the server's CPU per session is the
// figure and the client shares the machine with it. The full load
// generator, with latency histograms and every failure classified, is
// bench/loadgen.
//
// It speaks the protocol from tlslpd/protocol and tlslpd/pow only, and
// must not import the server's packages (see package bench).
package leanclient
