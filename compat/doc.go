// Package compat is the drop-in compatibility suite: it runs the real
// tlslpd binary (server and client) and checks, from the outside, what a
// user of the reference tlslp-server and tlslp-client relies on — flags
// and their value forms, defaults, the bytes of every step and every FAIL
// line, the tutorial's log files line for line, and exit statuses.
//
// It is written from the reference's documented behaviour
// (shared/PROTOCOL.md and the drop-in issue), not from its code. It owns
// only tests; it must not import the server's internals.
package compat
