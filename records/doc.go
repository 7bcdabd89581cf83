// Package records appends one JSON line per finished session to the records
// file (--records FILE), rotates it by size and makes it durable at shutdown.
//
// What it owns: the records file and its backups (FILE.1 newest … FILE.N
// oldest), an in-memory pending buffer, and two goroutines per Writer: the
// flusher, which writes batches in the background, and a watchdog that
// ticks every FlushInterval, wakes the flusher, and logs drops and stalled
// writes. The file is only touched under one I/O lock, by the flusher or by
// Flush, Reopen and Close on their caller's goroutine. The watchdog is
// separate from the flusher on purpose: when the disk hangs, the flusher
// sits in write(2) and could not report that records are being dropped,
// which must never happen silently.
//
// What it must not touch, and why:
//   - No I/O on the caller's goroutine in Append: callers are gnet event
//     loops serving thousands of sessions each. Append encodes into a pooled
//     scratch buffer, then copies the line into the pending buffer under a
//     mutex held for a memmove; it never makes a syscall, never logs and
//     never waits for the flusher. When the disk cannot keep up and the
//     pending bytes would pass MaxPending, the record is dropped and counted
//     (Dropped) instead of blocking the loop.
//   - No knowledge of the record type: the package takes any value that
//     encoding/json can encode, or a function that appends pre-encoded JSON,
//     so it does not import eventloop and the event loop does not depend on
//     how records are stored.
//   - No package-level mutable state: every buffer, pool and counter lives in
//     the Writer, so tests and several Writers never interfere.
//
// Durability model. Lines are written whole and in order: pending lines sit
// in chunks of at most 256 KiB that never split a line, each chunk is
// written with one write call, and after a short write the unwritten
// remainder is retried first, so the file never holds half a line except at
// its very end after a crash or a write error. If a line was cut by a
// failed write and the file is then switched (Reopen), the rest of that one
// line is dropped and counted rather than starting the new file with it. The flusher hands data to the kernel every
// FlushInterval (or sooner when a quarter of MaxPending, at most 256 KiB, is
// pending) and fsyncs every SyncInterval; Flush, Close, Reopen and rotation
// always fsync. So a process crash loses at most FlushInterval of records,
// a power loss at most SyncInterval, and a clean Close loses nothing.
//
// Rotation. Before a batch that would take the file past MaxBytes is
// written, the file is fsynced, FILE.i is renamed to FILE.i+1 for i = N-1 …
// 1 (rename replaces FILE.N, which is how the oldest backup is dropped),
// FILE becomes FILE.1 and a fresh FILE is opened. A batch is never split, so
// a file exceeds MaxBytes only when a single batch is larger than MaxBytes.
// A rotation that fails is logged and writing continues to the current
// file; it is tried again before the next batch.
package records
