// Package protocol holds the constants of the TLS line protocol (tlslp) as
// specified in PROTOCOL.md: message words, the exact FAIL lines, limits and
// the reference server's defaults.
//
// It is the only code the server and the load generator share besides the
// PoW solver, so it must stay data only: no I/O, no state, no logic beyond
// pure lookups.
package protocol
