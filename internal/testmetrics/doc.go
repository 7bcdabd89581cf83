// Package testmetrics reads a running tlslpd's metrics page the way the
// tests check it: every sample by its series, spelled as in Prometheus'
// text format (name{label="value",...}).
//
// Only _test.go files import it; it imports nothing of tlslpd, so
// internal tests of any package may use it, and it must never be linked
// into the daemon (it imports testing).
package testmetrics
