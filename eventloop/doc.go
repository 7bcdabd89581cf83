// Package eventloop is the daemon's I/O core: gnet v2 event loops accept
// connections and feed each one's bytes through its TLS engine into its
// protocol state machine; one timer wheel per loop enforces the handshake,
// short and WORK deadlines.
//
// It owns sessions (one object per connection), the per-loop state (wheel,
// scratch buffers, random source), the tick that advances the wheels, and
// the session record emitted when a session ends. A session and its timer
// are only ever touched by their own loop: anything from another goroutine
// (the TLS engine's wake, the tick, shutdown) reaches them through
// gnet's concurrency-safe calls (Conn.Wake, EventLoop.Execute).
//
// To follow a connection from accept to its record, read server.go's
// OnOpen (admission), then session.go top to bottom: newSession,
// onTraffic → pump → handle (the machine's actions), the events from
// outside the protocol (onDeadline, onShutdown, onClosed, engineEnded, the
// buffer limit in flush) which all go through interrupt, and finish — the
// one place any connection ends, writing the record once. With
// Config.ProxyFrom set, proxy.go runs first on a connection's bytes: a
// trusted balancer's PROXY header names the client (whose address then
// counts for limits, logs and records); a header from anyone else is
// refused.
//
// Around the sessions: overload.go decides per loop whether OnOpen sheds
// new connections (handshakes waiting too long), loop.go keeps the
// connections not answered yet that give their place at --max-conns,
// notices.go counts every refusal, shed and failed handshake and sums
// them up in the log once per interval, and memory.go hands memory back to
// the OS once a burst has drained.
//
// It must not parse lines (codec), decide protocol replies (statemachine),
// or implement TLS (tlsbridge); it wires them.
package eventloop
