// Package loadgen is `tlslpd bench load`: a tlslp load generator built on
// crypto/tls's client. It drives a server with a closed model (N workers
// back to back), an open model (constant arrival rate, latency measured
// from each session's intended start so coordinated omission cannot hide
// queueing) or park mode (N sessions held at the WORK step).
//
// A run is bounded: --duration stops new sessions, those in flight get
// --grace, then are cut and count as unfinished (with the phase they were
// in). Outcomes are counted per kind and per normalized error message;
// latency is kept per session and per phase (connect, TLS, HELLO, WORK
// solve here, WORK verify there, body, DONE) in HdrHistograms per
// wall-clock-aligned interval. Those intervals feed one aggregator that
// makes the Summary (text, JSON, HTML report, thresholds) and, with --out,
// an HdrHistogram interval log that Merge (`tlslpd bench report`) combines
// across load generators through the same aggregator.
//
// A worker whose connects fail backs off (5 ms doubling to 100 ms) rather
// than spinning on a port nobody listens on. The server's certificate chain
// is checked once per run and remembered while valid (chainMemo); the
// server's CertificateVerify signature is still checked on every connection.
//
// It owns its own lean session loop. It must not import the server's
// packages (eventloop, statemachine, tlsbridge, codec): a load generator
// that shares session code with its target would share its bugs. It uses
// only tlslpd/protocol, tlslpd/pow (to solve WORK), client.ParseRequest
// and tlslpd/version.
package loadgen
