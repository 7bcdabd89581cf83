// Package daemon assembles a running tlslpd from a config.Server: logger,
// TLS context, metrics endpoint, event-loop server and signal handling.
//
// It owns process-level wiring and lifecycle (start, tutorial exit,
// shutdown). It must not implement protocol, TLS or I/O details itself;
// those live in statemachine, tlsbridge and eventloop.
package daemon
