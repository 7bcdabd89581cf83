// Package suite is `tlslpd bench suite`, the side-by-side benchmark run
// behind `make bench`: it starts tlslpd, the goroutine-per-connection
// baseline (`tlslpd bench baseline`) and, when installed, nginx's stream
// module as child processes on loopback, drives them with the same load
// generator and certificates, measures each server from /proc and its
// /metrics endpoint, and renders BENCHMARKS.md with every figure next to
// the baseline's from the same run.
//
// Servers run as separate processes so their CPU time, RSS, open files and
// goroutines are theirs alone and not mixed with the load generator's,
// which runs in the suite process.
//
// The sessions test keeps its servers running and gives each, in turn, a
// short window of load per round, so that the machine's drift in speed
// lands on every server alike; the targets are judged at a load that keeps
// the machine busy, with a lighter load shown beside it.
//
// One file per section (sessions.go, park.go, pow.go, timers.go,
// handshake.go, transports.go, cores.go) beside the shared runner (suite.go) and server start-up
// (servers.go). BENCHMARKS.md's prose is the template
// templates/benchmarks.md.tmpl; markdown.go only computes its cells.
// Render ends with HandWrittenMarker, and `--out` keeps whatever the file
// it replaces has after that line: sections measured by hand (`go test
// -bench`, `make bench-hostile`) go there and survive `make bench`. The
// package must not import testing: it is linked into the daemon's binary.
//
// The pure parts (/proc parsing, the Prometheus text scrape, ratios and the
// Markdown rendering) are unit-tested, and `make test` runs the sessions
// test once with tiny windows to prove the plumbing; the measurement itself
// runs only under `make bench`, because it needs minutes of quiet CPU.
package suite
