package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Defaults applied by Open to zero-valued Options fields.
const (
	DefaultMaxBytes      int64 = 100 << 20
	DefaultMaxBackups          = 5
	DefaultFlushInterval       = 200 * time.Millisecond
	DefaultSyncInterval        = time.Second
	DefaultMaxPending    int64 = 64 << 20
)

const (
	// maxKick caps the pending size that wakes the flusher early, so a busy
	// server writes in batches of a few hundred KiB instead of waiting for
	// the ticker with megabytes in memory.
	maxKick = 256 << 10
	// minChunk keeps chunks useful when MaxPending is tiny.
	minChunk = 4 << 10
	// maxFree bounds the chunks kept for reuse: enough for steady state,
	// while memory grown during a stall goes back to the runtime.
	maxFree = 8
	// maxScratch is the largest encode buffer returned to the pool; one huge
	// record must not pin its buffer for the life of the process.
	maxScratch = 64 << 10
	// minStall is the shortest time a single write may run before the watchdog
	// reports the disk as stalled.
	minStall = 5 * time.Second
)

var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("records: writer closed")
	// ErrDropped is returned by Append when the record was dropped because
	// MaxPending bytes are already waiting for the disk. The drop is counted
	// and logged by the Writer; callers need not log it again.
	ErrDropped = errors.New("records: pending buffer full, record dropped")
	// ErrInvalidLine is returned for an encoded record that is empty or
	// contains a newline, which would break the one-record-per-line format.
	ErrInvalidLine = errors.New("records: encoded record is empty or contains a newline")
	// ErrInvalidOptions is returned by Open for options it cannot honour.
	ErrInvalidOptions = errors.New("records: invalid options")
)

// Options configures a Writer. Zero values select the defaults.
type Options struct {
	// Path is the records file; its directory must exist.
	Path string
	// MaxBytes rotates the file before a batch would take it past this
	// size. 0 selects DefaultMaxBytes; negative never rotates.
	MaxBytes int64
	// MaxBackups is how many rotated files (FILE.1 newest … FILE.N oldest)
	// are kept. 0 selects DefaultMaxBackups; negative is invalid because
	// rotating without a backup would delete records.
	MaxBackups int
	// FlushInterval is how often pending records are written to the file
	// and how often drops are reported. <= 0 selects DefaultFlushInterval.
	FlushInterval time.Duration
	// SyncInterval is the longest time written records stay without an
	// fsync. 0 selects DefaultSyncInterval; negative syncs only in Flush,
	// Close, Reopen and rotation.
	SyncInterval time.Duration
	// MaxPending is how many bytes may wait in memory (disk slow or
	// stalled) before Append drops records. 0 selects DefaultMaxPending;
	// negative is invalid.
	MaxPending int64
	// Logger receives write, rotation and drop reports. The zero value
	// discards them.
	Logger zerolog.Logger

	// open replaces os.OpenFile in tests that simulate a failing or
	// stalled disk.
	open func(path string) (file, error)
	// stallAfter overrides how long a write may hang before the watchdog
	// reports it, so tests need not wait seconds.
	stallAfter time.Duration
}

// file is the part of *os.File the flusher uses.
type file interface {
	io.Writer
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

func openAppend(path string) (file, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// Writer appends encoded records to the records file. Its methods are safe
// for concurrent use.
type Writer struct {
	path       string
	maxBytes   int64
	maxBackups int
	interval   time.Duration
	syncEvery  time.Duration
	maxPending int64
	kickAt     int // pending bytes that wake the flusher early
	chunkSize  int
	log        zerolog.Logger
	open       func(string) (file, error)
	stallAfter time.Duration

	scratch sync.Pool // *scratch

	// mu guards the fields below it; Append holds it only to copy one line.
	mu     sync.Mutex
	closed bool
	// pending holds complete lines not yet taken by the flusher, in
	// fixed-size chunks so that growing never copies what is already
	// buffered (a stall may buffer MaxPending bytes) while other loops wait
	// for the lock. A line never spans two chunks, so every write of a
	// chunk writes whole lines.
	pending      [][]byte
	pendingBytes int
	free         [][]byte // empty chunks of chunkSize for reuse
	buffered     int64    // bytes accepted and not yet written: pending + io.out

	written atomic.Uint64
	dropped atomic.Uint64
	// writeStart is the UnixNano at which the running write began, 0 when
	// idle; the watchdog reads it to detect a hung disk.
	writeStart atomic.Int64

	kick chan struct{} // cap 1: a pending wake-up for the flusher
	stop chan struct{}
	wg   sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	// ioMu serialises everything that touches the file: the flusher, Flush,
	// Reopen and Close. It is never taken by Append.
	ioMu sync.Mutex
	io   ioState
}

// ioState is owned by whoever holds Writer.ioMu.
type ioState struct {
	f    file // nil once closed
	size int64
	out  [][]byte // chunks taken from pending, not yet written, in order
	// outBytes is the total length of out.
	outBytes int
	// headPartial is set when out[0] starts in the middle of a line whose
	// beginning is already in f.
	headPartial bool
	lastSync    time.Time
	dirty       bool // written since the last fsync
	writeLog    limiter
	rotateLog   limiter
}

type scratch struct {
	buf  bytes.Buffer
	enc  *json.Encoder
	line []byte
}

// Open opens or creates the records file in append mode and starts the
// background flusher. The caller must Close the Writer.
func Open(opts Options) (*Writer, error) {
	if err := applyDefaults(&opts); err != nil {
		return nil, err
	}
	f, size, err := openAt(opts.open, opts.Path)
	if err != nil {
		return nil, err
	}
	kickAt := opts.MaxPending / 4
	if kickAt > maxKick {
		kickAt = maxKick
	}
	if kickAt < 1 {
		kickAt = 1
	}
	chunkSize := max(int(kickAt), minChunk)
	w := &Writer{
		path:       opts.Path,
		maxBytes:   opts.MaxBytes,
		maxBackups: opts.MaxBackups,
		interval:   opts.FlushInterval,
		syncEvery:  opts.SyncInterval,
		maxPending: opts.MaxPending,
		kickAt:     int(kickAt),
		chunkSize:  chunkSize,
		log:        opts.Logger.With().Str("component", "records").Str("path", opts.Path).Logger(),
		open:       opts.open,
		stallAfter: opts.stallAfter,
		pending:    make([][]byte, 0, 16),
		free:       [][]byte{make([]byte, 0, chunkSize)},
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	w.scratch.New = func() any {
		s := &scratch{}
		s.enc = json.NewEncoder(&s.buf)
		// Records are read by people and tools, not embedded in HTML.
		s.enc.SetEscapeHTML(false)
		return s
	}
	w.io = ioState{
		f:         f,
		size:      size,
		lastSync:  time.Now(),
		writeLog:  limiter{every: w.interval * 5},
		rotateLog: limiter{every: w.interval * 5},
	}
	w.syncDir()
	w.wg.Add(2)
	go w.flusher()
	go w.watchdog()
	return w, nil
}

func applyDefaults(o *Options) error {
	if o.Path == "" {
		return fmt.Errorf("%w: empty path", ErrInvalidOptions)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	switch {
	case o.MaxBackups == 0:
		o.MaxBackups = DefaultMaxBackups
	case o.MaxBackups < 0:
		return fmt.Errorf("%w: MaxBackups %d < 0", ErrInvalidOptions, o.MaxBackups)
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	switch {
	case o.MaxPending == 0:
		o.MaxPending = DefaultMaxPending
	case o.MaxPending < 0:
		return fmt.Errorf("%w: MaxPending %d < 0", ErrInvalidOptions, o.MaxPending)
	}
	if o.open == nil {
		o.open = openAppend
	}
	return nil
}

// openAt opens path for appending and returns its current size, so rotation
// accounts for records left by a previous run.
func openAt(open func(string) (file, error), path string) (file, int64, error) {
	f, err := open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("records: open records file %q: directory %q does not exist: %w",
				path, filepath.Dir(path), err)
		}
		return nil, 0, fmt.Errorf("records: open records file %q: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("records: stat records file %q: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, 0, fmt.Errorf("records: records file %q is not a regular file (%s)", path, st.Mode().Type())
	}
	return f, st.Size(), nil
}

// Append encodes v with encoding/json and queues it as one line. It never
// blocks on I/O. It returns ErrDropped when the pending buffer is full and
// ErrClosed after Close.
func (w *Writer) Append(v any) error {
	s := w.scratch.Get().(*scratch)
	s.buf.Reset()
	if err := s.enc.Encode(v); err != nil {
		w.putScratch(s)
		return fmt.Errorf("records: encode %T: %w", v, err)
	}
	// Encode ends the line with '\n' and escapes newlines inside strings,
	// so the line needs no further check.
	err := w.commit(s.buf.Bytes())
	w.putScratch(s)
	return err
}

// AppendFunc queues the record that enc appends to dst (without the
// trailing newline). enc runs on the caller's goroutine outside any lock
// and must not retain dst. It is the allocation-free path for callers with
// a hand-written JSON encoder; the bytes are not validated as JSON, only
// checked to be non-empty and free of newlines.
func (w *Writer) AppendFunc(enc func(dst []byte) []byte) error {
	s := w.scratch.Get().(*scratch)
	s.line = enc(s.line[:0])
	if len(s.line) == 0 || bytes.IndexByte(s.line, '\n') >= 0 {
		w.putScratch(s)
		return ErrInvalidLine
	}
	s.line = append(s.line, '\n')
	err := w.commit(s.line)
	w.putScratch(s)
	return err
}

// AppendLine queues one pre-encoded record (without the trailing newline).
// line is copied before AppendLine returns.
func (w *Writer) AppendLine(line []byte) error {
	if len(line) == 0 || bytes.IndexByte(line, '\n') >= 0 {
		return ErrInvalidLine
	}
	return w.commitParts(line, true)
}

func (w *Writer) putScratch(s *scratch) {
	if s.buf.Cap() > maxScratch || cap(s.line) > maxScratch {
		return
	}
	w.scratch.Put(s)
}

// commit queues line, which already ends in '\n'.
func (w *Writer) commit(line []byte) error { return w.commitParts(line, false) }

func (w *Writer) commitParts(line []byte, addNewline bool) error {
	n := int64(len(line))
	if addNewline {
		n++
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	if w.buffered+n > w.maxPending {
		w.mu.Unlock()
		// Reported by the watchdog, off the caller's goroutine.
		w.dropped.Add(1)
		return ErrDropped
	}
	c := w.chunkForLocked(int(n))
	c = append(c, line...)
	if addNewline {
		c = append(c, '\n')
	}
	w.pending[len(w.pending)-1] = c
	w.buffered += n
	before := w.pendingBytes
	w.pendingBytes += int(n)
	crossed := before < w.kickAt && w.pendingBytes >= w.kickAt
	w.mu.Unlock()
	if crossed {
		w.wake()
	}
	return nil
}

// chunkForLocked makes the last pending chunk one with room for n bytes.
func (w *Writer) chunkForLocked(n int) []byte {
	if k := len(w.pending); k > 0 {
		if c := w.pending[k-1]; cap(c)-len(c) >= n {
			return c
		}
	}
	var c []byte
	switch {
	case n > w.chunkSize:
		// A record larger than a chunk gets its own; not kept for reuse.
		c = make([]byte, 0, n)
	case len(w.free) > 0:
		c = w.free[len(w.free)-1]
		w.free = w.free[:len(w.free)-1]
	default:
		c = make([]byte, 0, w.chunkSize)
	}
	w.pending = append(w.pending, c)
	return c
}

// wake asks the flusher to run soon without ever waiting for it.
func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Written is the number of records written to the file (handed to the
// kernel; fsynced at the latest SyncInterval later).
func (w *Writer) Written() uint64 { return w.written.Load() }

// Dropped is the number of records lost: refused by Append because
// MaxPending was reached, or still unwritten when Close gave up on a
// failing disk.
func (w *Writer) Dropped() uint64 { return w.dropped.Load() }

// Flush writes everything appended before the call and fsyncs the file.
func (w *Writer) Flush() error {
	w.ioMu.Lock()
	defer w.ioMu.Unlock()
	if w.io.f == nil {
		return ErrClosed
	}
	if err := w.writePendingLocked(); err != nil {
		return err
	}
	return w.syncLocked()
}

// Reopen writes what is pending to the current file, then closes it and
// opens Path again. It is meant for SIGHUP after an external tool renamed
// the file away. If Path cannot be opened, writing continues to the old
// file and the error is returned.
func (w *Writer) Reopen() error {
	w.ioMu.Lock()
	defer w.ioMu.Unlock()
	if w.io.f == nil {
		return ErrClosed
	}
	// A failing old file is a reason to reopen, so its error is only logged
	// (by writePendingLocked) and does not stop the switch.
	_ = w.writePendingLocked()
	nf, size, err := openAt(w.open, w.path)
	if err != nil {
		return fmt.Errorf("records: reopen: %w", err)
	}
	w.dropPartialHeadLocked("reopen")
	if err := w.io.f.Sync(); err != nil {
		w.log.Error().Err(err).Msg("fsync records file before reopen")
	}
	if err := w.io.f.Close(); err != nil {
		w.log.Error().Err(err).Msg("close records file before reopen")
	}
	w.io.f, w.io.size, w.io.dirty = nf, size, false
	w.syncDir()
	return nil
}

// Close stops the background goroutines, writes everything pending, fsyncs
// and closes the file. Appends that returned nil before Close was called
// are durable once it returns nil. Close is idempotent; later calls return
// the first call's result.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
		w.wg.Wait()

		w.ioMu.Lock()
		defer w.ioMu.Unlock()
		werr := w.writePendingLocked()
		serr := w.syncLocked()
		lost := 0
		for _, c := range w.io.out {
			lost += bytes.Count(c, []byte{'\n'})
		}
		if lost > 0 {
			w.dropped.Add(uint64(lost))
			w.log.Error().Int("records", lost).Msg("records lost at close: the file could not be written")
		}
		cerr := w.io.f.Close()
		w.io.f = nil
		w.io.out, w.io.outBytes = nil, 0
		if cerr != nil {
			cerr = fmt.Errorf("records: close %q: %w", w.path, cerr)
		}
		w.closeErr = errors.Join(werr, serr, cerr)
	})
	return w.closeErr
}

// flusher writes pending batches whenever the watchdog's tick or an Append
// passing kickAt wakes it.
func (w *Writer) flusher() {
	defer w.wg.Done()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		}
		w.ioMu.Lock()
		// Errors are logged inside and the data retried on the next run.
		if err := w.writePendingLocked(); err == nil && w.syncEvery > 0 &&
			w.io.dirty && time.Since(w.io.lastSync) >= w.syncEvery {
			_ = w.syncLocked()
		}
		w.ioMu.Unlock()
	}
}

// watchdog wakes the flusher every interval and reports what the flusher
// cannot report while it is stuck in a write.
func (w *Writer) watchdog() {
	defer w.wg.Done()
	t := time.NewTicker(w.interval)
	defer t.Stop()
	stallAfter := w.stallAfter
	if stallAfter <= 0 {
		stallAfter = max(10*w.interval, minStall)
	}
	var reported uint64
	var stalledAt int64 // writeStart already reported as stalled
	for {
		select {
		case <-w.stop:
			w.reportDrops(&reported)
			return
		case now := <-t.C:
			w.wake()
			w.reportDrops(&reported)
			if ws := w.writeStart.Load(); ws != 0 && ws != stalledAt &&
				now.Sub(time.Unix(0, ws)) > stallAfter {
				stalledAt = ws
				w.log.Error().Dur("for", now.Sub(time.Unix(0, ws))).
					Msg("write to records file stalled; records will be dropped once the pending buffer is full")
			}
		}
	}
}

func (w *Writer) reportDrops(reported *uint64) {
	d := w.dropped.Load()
	if d == *reported {
		return
	}
	w.mu.Lock()
	buffered := w.buffered
	w.mu.Unlock()
	w.log.Warn().Uint64("dropped", d-*reported).Uint64("dropped_total", d).
		Int64("pending_bytes", buffered).Int64("max_pending_bytes", w.maxPending).
		Msg("records dropped: the records file is not keeping up")
	*reported = d
}

// takeLocked moves the pending chunks behind any unwritten remainder.
func (w *Writer) takeLocked() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pendingBytes == 0 {
		return
	}
	if len(w.io.out) == 0 {
		w.io.out, w.pending = w.pending, w.io.out[:0]
	} else {
		// Only after a failed write: keep order by queueing behind it.
		w.io.out = append(w.io.out, w.pending...)
		clear(w.pending)
		w.pending = w.pending[:0]
	}
	w.io.outBytes += w.pendingBytes
	w.pendingBytes = 0
}

// writePendingLocked writes everything pending as one batch, rotating first
// if the batch would take the file past maxBytes. Each chunk is written
// with one call, so the file only ever holds whole lines unless a write
// fails part way; then the rest of that chunk is retried first.
func (w *Writer) writePendingLocked() error {
	w.takeLocked()
	if w.io.outBytes == 0 {
		return nil
	}
	if w.maxBytes > 0 && !w.io.headPartial && w.io.size > 0 &&
		w.io.size+int64(w.io.outBytes) > w.maxBytes {
		w.rotateLocked()
	}
	done := 0 // chunks written completely
	var err error
	for _, c := range w.io.out {
		var n int
		w.writeStart.Store(time.Now().UnixNano())
		n, err = w.io.f.Write(c)
		w.writeStart.Store(0)
		w.accountLocked(c[:n])
		if err != nil {
			if n > 0 {
				w.io.headPartial = c[n-1] != '\n'
			}
			// c[n:] is recycled later only if n == 0: otherwise it no
			// longer starts at the chunk's base and its cap shrank.
			w.io.out[done] = c[n:]
			break
		}
		w.io.headPartial = false
		done++
	}
	w.recycleLocked(done)
	if err != nil {
		werr := fmt.Errorf("records: write %q: %w", w.path, err)
		if ok, suppressed := w.io.writeLog.allow(time.Now()); ok {
			w.log.Error().Err(werr).Int("unwritten_bytes", w.io.outBytes).Int("suppressed", suppressed).
				Msg("write records file failed; retrying on the next flush")
		}
		return werr
	}
	return nil
}

// recycleLocked removes the first done chunks from out and returns the
// reusable ones to the free list.
func (w *Writer) recycleLocked(done int) {
	if done == 0 {
		return
	}
	w.mu.Lock()
	for _, c := range w.io.out[:done] {
		if cap(c) == w.chunkSize && len(w.free) < maxFree {
			w.free = append(w.free, c[:0])
		}
	}
	w.mu.Unlock()
	rest := copy(w.io.out, w.io.out[done:])
	clear(w.io.out[rest:])
	w.io.out = w.io.out[:rest]
}

// accountLocked books bytes that reached the file.
func (w *Writer) accountLocked(done []byte) {
	if len(done) == 0 {
		return
	}
	w.io.size += int64(len(done))
	w.io.outBytes -= len(done)
	w.io.dirty = true
	w.written.Add(uint64(bytes.Count(done, []byte{'\n'})))
	w.mu.Lock()
	w.buffered -= int64(len(done))
	w.mu.Unlock()
}

// dropPartialHeadLocked gives up on a line whose start is in the current
// file before switching files: finishing it in the new file would leave
// half a line at the start of that file.
func (w *Writer) dropPartialHeadLocked(why string) {
	if !w.io.headPartial {
		return
	}
	// Lines never span chunks, so the rest of the line is in out[0].
	c := w.io.out[0]
	i := bytes.IndexByte(c, '\n') + 1
	w.io.out[0] = c[i:]
	w.io.outBytes -= i
	w.io.headPartial = false
	w.dropped.Add(1)
	w.mu.Lock()
	w.buffered -= int64(i)
	w.mu.Unlock()
	w.log.Error().Str("during", why).Msg("dropped a partly written record: the old file could not be completed")
}

func (w *Writer) syncLocked() error {
	if !w.io.dirty {
		return nil
	}
	if err := w.io.f.Sync(); err != nil {
		err = fmt.Errorf("records: fsync %q: %w", w.path, err)
		w.log.Error().Err(err).Msg("fsync records file failed")
		return err
	}
	w.io.dirty = false
	w.io.lastSync = time.Now()
	return nil
}

// syncDir makes a created or renamed file's directory entry durable. Its
// failure is logged, not returned: the data itself is fsynced and most
// filesystems persist the entry with it.
func (w *Writer) syncDir() {
	d, err := os.Open(filepath.Dir(w.path))
	if err != nil {
		w.log.Warn().Err(err).Msg("open records directory for fsync")
		return
	}
	if err := d.Sync(); err != nil {
		w.log.Warn().Err(err).Msg("fsync records directory")
	}
	_ = d.Close()
}

// limiter lets one log line through per period and counts the rest.
type limiter struct {
	every      time.Duration
	last       time.Time
	suppressed int
}

func (l *limiter) allow(now time.Time) (bool, int) {
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	s := l.suppressed
	l.last, l.suppressed = now, 0
	return true, s
}
