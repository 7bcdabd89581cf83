// Package logsink is the daemon's log output: an io.Writer that takes whole
// log lines from the event loops without ever doing I/O on their
// goroutines, and writes them out in batches from a goroutine of its own.
//
// Why: a log line per finished session, written synchronously, is a
// write(2) on the event loop for every session, and a stderr that blocks
// (a paused terminal, a journald applying back-pressure, a full pipe)
// would stall every connection of that loop. Batching also turns a
// thousand lines a second into twenty writes.
//
// It owns: the pending buffer (bounded; a line that does not fit is
// dropped and counted, never waited for), and the flusher goroutine, which
// writes what is pending every FlushInterval, or at once when a batch's
// worth has gathered. Flush and Close write everything pending before they
// return, except that Close gives up on an output that does not take
// writes after CloseTimeout, so a process can always exit; after Close,
// writes go straight through.
//
// It must not touch: log formats or levels (that is zerolog's), files or
// rotation (the records package), metrics (callers read Dropped).
package logsink
