package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStuck is returned by Close when out did not take the last lines in
// time; they are counted in Dropped.
var ErrStuck = errors.New("logsink: output is not taking writes")

// Defaults for Options' zero values.
const (
	DefaultFlushInterval = 50 * time.Millisecond
	DefaultMaxPending    = 4 << 20
	DefaultCloseTimeout  = 2 * time.Second
	// batchBytes wakes the flusher before its interval is up.
	batchBytes = 64 << 10
	// maxSpare is the largest buffer kept for reuse after a flush.
	maxSpare = 1 << 20
)

// Options tune a Sink; zero values mean the defaults.
type Options struct {
	// FlushInterval bounds how long a line waits before it is written.
	FlushInterval time.Duration
	// MaxPending bounds the bytes waiting to be written; lines beyond it
	// are dropped and counted.
	MaxPending int
	// CloseTimeout bounds how long Close waits for out: a process must
	// be able to exit even when its stderr is a pipe nobody reads.
	CloseTimeout time.Duration
	// SyncInterval, when positive, makes out durable: out must have a
	// Sync() error method (an *os.File does), which is called at most
	// SyncInterval after a write, and by Flush and Close.
	SyncInterval time.Duration
}

// syncer is what SyncInterval needs of out.
type syncer interface{ Sync() error }

// Sink batches log lines to out. It is safe for concurrent use; each Write
// must be one or more whole lines (zerolog writes one event per call).
type Sink struct {
	out          io.Writer
	sync         syncer // nil: never fsync
	interval     time.Duration
	syncInterval time.Duration
	max          int
	closeTimeout time.Duration

	mu      sync.Mutex
	pending []byte
	spare   []byte
	closing bool // Close has begun: no more flusher
	closed  bool // Close has flushed: writes go straight to out

	ioMu    sync.Mutex // one writer to out at a time, in order
	dirty   bool       // written since the last Sync; guarded by ioMu
	written atomic.Uint64
	dropped atomic.Uint64
	armed   chan struct{} // a first line is pending
	full    chan struct{} // a batch's worth is pending
	stop    chan struct{}
	done    chan struct{}
}

// New starts a Sink writing to out. It panics if Options.SyncInterval is
// set and out cannot Sync, a programming error.
func New(out io.Writer, o Options) *Sink {
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	s := &Sink{
		out: out, interval: o.FlushInterval, max: o.MaxPending, closeTimeout: o.CloseTimeout,
		armed: make(chan struct{}, 1), full: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if o.SyncInterval > 0 {
		s.sync = out.(syncer)
		s.syncInterval = o.SyncInterval
	}
	go s.flusher()
	return s
}

// Write queues p (a copy) to be written; it never blocks on out. A line
// that would take the pending bytes past MaxPending is dropped and
// counted. Write always reports success: a logger has nowhere better to
// report a lost line than Dropped.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.ioMu.Lock()
		defer s.ioMu.Unlock()
		return s.out.Write(p)
	}
	if len(s.pending)+len(p) > s.max {
		s.mu.Unlock()
		s.dropped.Add(1)
		return len(p), nil
	}
	first := len(s.pending) == 0
	s.pending = append(s.pending, p...)
	full := len(s.pending) >= batchBytes
	s.mu.Unlock()
	if first {
		signal(s.armed)
	}
	if full {
		signal(s.full)
	}
	return len(p), nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Written is how many lines out has taken.
func (s *Sink) Written() uint64 { return s.written.Load() }

// Dropped is how many lines were lost: refused because out could not keep
// up, refused by out with an error, or still waiting when Close gave up.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }

// Flush writes everything pending, fsyncs out if the Sink is durable, and
// returns out's error, if any.
func (s *Sink) Flush() error {
	s.ioMu.Lock()
	defer s.ioMu.Unlock()
	err := s.flushLocked()
	return errors.Join(err, s.syncLocked())
}

// flushLocked writes what is pending as one batch. Lines out did not take
// are counted as dropped, not retried: a failing output would otherwise
// hold the buffer full. A partly written last line counts as dropped.
func (s *Sink) flushLocked() error {
	s.mu.Lock()
	batch := s.pending
	if burstGrown(batch) {
		s.spare = nil // the burst's other buffer goes too
	}
	s.pending = s.spare[:0]
	s.spare = nil
	s.mu.Unlock()
	var err error
	if len(batch) > 0 {
		var n int
		n, err = s.out.Write(batch)
		n = max(0, min(n, len(batch)))
		s.written.Add(uint64(bytes.Count(batch[:n], []byte{'\n'})))
		s.dropped.Add(uint64(bytes.Count(batch[n:], []byte{'\n'})))
		s.dirty = s.dirty || n > 0
	}
	s.recycle(batch)
	return err
}

func (s *Sink) syncLocked() error {
	if s.sync == nil || !s.dirty {
		return nil
	}
	if err := s.sync.Sync(); err != nil {
		return err
	}
	s.dirty = false
	return nil
}

// burstGrown reports whether b is a buffer a burst of lines grew that
// batches no longer need: kept for reuse, it would hold the burst's memory
// for as long as the process runs (a 15,000-session burst left 1 MiB).
func burstGrown(b []byte) bool {
	return cap(b) > batchBytes && len(b) < cap(b)/4
}

func (s *Sink) recycle(b []byte) {
	if cap(b) > maxSpare || cap(b) == 0 || burstGrown(b) {
		return
	}
	s.mu.Lock()
	if s.spare == nil {
		s.spare = b[:0]
	}
	s.mu.Unlock()
}

// Close stops the flusher, writes everything pending (and fsyncs, if
// durable) and lets later writes go straight to out, after it. If out is
// stuck (a write that does not return) Close gives up after CloseTimeout,
// counts the lines still waiting as dropped (not those of the batch inside
// the stuck write) and returns ErrStuck. It is safe to call more than
// once; later calls return nil at once.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.mu.Unlock()
	close(s.stop)
	result := make(chan error, 1)
	go func() {
		<-s.done // the flusher may be inside a write that never returns
		s.ioMu.Lock()
		defer s.ioMu.Unlock()
		err := s.flushLocked()
		err = errors.Join(err, s.syncLocked())
		s.mu.Lock()
		s.closed = true
		s.pending, s.spare = nil, nil
		s.mu.Unlock()
		result <- err
	}()
	t := time.NewTimer(s.closeTimeout)
	defer t.Stop()
	select {
	case err := <-result:
		return err
	case <-t.C:
	}
	s.mu.Lock()
	lost := bytes.Count(s.pending, []byte{'\n'})
	s.pending = nil
	s.mu.Unlock()
	s.dropped.Add(uint64(lost))
	return fmt.Errorf("%w: gave up after %s with %d lines unwritten", ErrStuck, s.closeTimeout, lost)
}

// flusher sleeps until a line is pending, lets a batch gather for the
// flush interval (or until a batch's worth is there), and writes it; a
// durable Sink fsyncs SyncInterval after the first unsynced write. An idle
// daemon costs it no wake-ups.
func (s *Sink) flusher() {
	defer close(s.done)
	flushT := time.NewTimer(s.interval)
	flushT.Stop()
	syncT := time.NewTimer(time.Hour)
	syncT.Stop()
	syncArmed := false
	for {
		select {
		case <-s.stop:
			return
		case <-s.armed:
		case <-syncT.C:
			s.ioMu.Lock()
			_ = s.syncLocked() // an error resurfaces at Flush or Close
			s.ioMu.Unlock()
			syncArmed = false
			continue
		}
		flushT.Reset(s.interval)
		select {
		case <-s.stop:
			flushT.Stop()
			return // Close writes what is pending
		case <-flushT.C:
		case <-s.full:
			flushT.Stop()
		}
		// An error from out has nowhere to go but out itself; the lines
		// are counted in Dropped and the next flush tries the next ones.
		s.ioMu.Lock()
		_ = s.flushLocked()
		s.ioMu.Unlock()
		if s.sync != nil && !syncArmed {
			syncT.Reset(s.syncInterval)
			syncArmed = true
		}
	}
}
