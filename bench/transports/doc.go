// Package transports benchmarks tlslpd's plain TCP transport against
// TLS and against the goroutine-per-connection baseline over both: server
// CPU per session and sessions per second, measured on the server process
// alone (each server runs as a child process; the load runs here).
//
// It holds only tests and benchmarks; it must not be imported.
package transports
