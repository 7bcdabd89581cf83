// Package bench is the root of the benchmark tooling, `tlslpd bench`:
//
//   - bench/loadgen: `tlslpd bench load`, the load generator (closed and
//     open model, park mode, per-phase HdrHistograms, thresholds, JSON,
//     HTML report, --out interval logs) and the merging of those logs.
//   - bench/report: `tlslpd bench report`, one summary of the --out files
//     of several load generators.
//   - bench/verify: `tlslpd bench verify`, PoW verification throughput
//     against plain SHA-256.
//   - bench/leanclient: the cheapest correct client, sessions back to back
//     over plain TCP or TLS, for the transports measurements (the suite's
//     transports section and bench/transports).
//   - bench/baseline: an idiomatic goroutine-per-connection crypto/tls
//     tlslp server, the yardstick the real server is compared with and the
//     target the client and load generator are tested against.
//   - bench/suite: `tlslpd bench suite` (`make bench`), the side-by-side
//     run of tlslpd, the baseline (as `tlslpd bench baseline`, its own
//     process) and nginx's stream module that writes BENCHMARKS.md. It
//     imports tlslpd/timerwheel for the timer micro-benchmark only.
//   - `tlslpd bench attack` is tlslpd/adversary's Main: its hostile
//     clients (which share no server code either) run by hand.
//
// Package bench itself only dispatches subcommands (Main).
//
// Nothing under bench may import the server's packages (eventloop,
// statemachine, tlsbridge, codec): a load generator or yardstick that
// shares code with the server it measures would share its bugs and its
// costs. Shared code is limited to tlslpd/protocol (constants), tlslpd/pow
// (solver and verifier), tlslpd/certs (test PKI) and tlslpd/client.
package bench
