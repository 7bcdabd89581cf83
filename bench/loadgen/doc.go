// Package loadgen is `tlslpd bench load`: a tlslp load generator built on
// crypto/tls's client. It drives a server with a closed model (N workers
// back to back), an open model (constant arrival rate, latency measured
// from each session's intended start so coordinated omission cannot hide
// queueing) or park mode (N sessions held at the WORK step), and reports
// outcome counts, HdrHistogram latency percentiles, JSON and an HTML report.
// A worker whose connects fail backs off (5 ms doubling to 100 ms) rather
// than spinning on a port nobody listens on. The server's certificate chain
// is checked once per run and remembered while valid (chainMemo), so the
// generator's CPU goes into load rather than into rebuilding the same chain;
// the server's CertificateVerify signature is still checked by crypto/tls on
// every connection.
//
// It owns its own lean session loop. It must not import the server's
// packages (eventloop, statemachine, tlsbridge, codec): a load generator
// that shares session code with its target would share its bugs. It uses
// only tlslpd/protocol, tlslpd/pow (to solve WORK) and client.ParseRequest.
package loadgen
