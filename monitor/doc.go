// Package monitor is the live session monitor on the metrics listener:
// a page (/monitor, embedded, no external assets) and a server-sent
// events stream (/monitor/events) of sessions by state, handshakes/s,
// PoW checks/s, refusals, the step latency distribution and a table of
// recent sessions.
//
// It owns the bounded, sampled feed of finished sessions and the stream.
// The event loops only ever call Offer, which costs an atomic add and,
// for a sampled record, a non-blocking channel send; everything else
// (reading the metrics, JSON, HTTP) runs on the monitor's own goroutines
// and only while someone watches. It must not touch sessions or block a
// loop.
package monitor
