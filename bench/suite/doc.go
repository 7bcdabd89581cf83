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
// The pure parts (/proc parsing, the Prometheus text scrape, ratios and the
// Markdown rendering) are unit-tested; the measurement itself runs only
// under `make bench`, never in `make test`, because it needs minutes of
// quiet CPU.
package suite
