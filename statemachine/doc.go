// Package statemachine is the tlslp session logic: one explicit state
// machine per connection (Hello, Work, Body(i), Done and the terminal
// states), driven by events (start, line received, deadline passed, receive
// error, peer closed, shutdown) and answering with actions (send a line, arm
// the WORK or the short deadline, close, record the outcome).
//
// It owns every rule of PROTOCOL.md that concerns message content: the
// exact FAIL lines, the random body draws with FAIL injection, tutorial
// order, and the checks of HELLOBACK, the PoW suffix, checksums and OK.
// It must not touch sockets, TLS, clocks or timers: time reaches it only as
// an EventDeadline, randomness only through the injected Rand.
package statemachine
