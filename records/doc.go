// Package records appends one JSON line per finished session to the records
// file (--records FILE), rotates it by size and makes it durable.
//
// It is the log sink (package logsink) pointed at a file: Append encodes a
// record with zerolog, the same encoder as the "session finished" log event,
// into the sink's bounded buffer; the sink's flusher writes whole batches to
// the file, counts lines written and dropped, fsyncs SyncInterval after a
// write and at Flush and Close, and gives up on a hung disk after
// CloseTimeout so the process can exit. This package adds only the file:
// opening, rotation by size (FILE.1 newest … FILE.N oldest, rename(2)
// dropping the oldest), reopening on SIGHUP, and undoing a half-written
// batch so the file holds whole lines only.
//
// It must not touch: the record's fields (eventloop.Record owns the
// schema), the event loops (Append never does I/O and never blocks: a full
// buffer drops and counts), or package-level state.
package records
