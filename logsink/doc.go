// Package logsink is the one way tlslpd writes lines off the event loops:
// an io.Writer that takes whole lines without doing I/O on the caller's
// goroutine and writes them in batches from a goroutine of its own. The
// daemon's log (stderr) and the records file (package records) both go
// through it.
//
// Why: a line per finished session written synchronously is a write(2) on
// the event loop for every session, and an output that blocks (a paused
// terminal, journald applying back-pressure, a full pipe, a hung disk)
// would stall every connection of that loop.
//
// It owns: the pending buffer (bounded; a line that does not fit is
// dropped and counted, never waited for), the flusher goroutine, which
// writes what is pending every FlushInterval or at once when a batch's
// worth has gathered, and the counts of lines written and dropped (a
// batch the output refuses is counted, not retried). With SyncInterval
// the output is fsynced that long after a write and at Flush and Close.
// Close gives up on an output that does not take writes after
// CloseTimeout, so a process can always exit; after Close, writes go
// straight through.
//
// It must not touch: log formats or levels (zerolog's), files or rotation
// (package records), metrics (callers read Written and Dropped).
package logsink
