package records

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"tlslpd/logsink"
)

// Defaults applied by Open to zero-valued Options fields.
const (
	DefaultMaxBytes      int64 = 100 << 20
	DefaultMaxBackups          = 5
	DefaultFlushInterval       = 200 * time.Millisecond
	DefaultSyncInterval        = time.Second
	DefaultMaxPending          = 64 << 20
	DefaultCloseTimeout        = 5 * time.Second
)

var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("records: writer closed")
	// ErrInvalidOptions is returned by Open for options it cannot honour.
	ErrInvalidOptions = errors.New("records: invalid options")
)

// Options configures a Writer. Zero values select the defaults.
type Options struct {
	// Path is the records file; its directory must exist.
	Path string
	// MaxBytes rotates the file before a batch would take it past this
	// size (a single larger batch is written whole). Negative never rotates.
	MaxBytes int64
	// MaxBackups is how many rotated files are kept; negative is invalid,
	// as rotating without a backup would delete records.
	MaxBackups int
	// FlushInterval bounds how long a record waits before it is written.
	FlushInterval time.Duration
	// SyncInterval bounds how long a written record waits for fsync.
	SyncInterval time.Duration
	// MaxPending is how many bytes may wait for a slow or stalled disk
	// before records are dropped (and counted).
	MaxPending int
	// CloseTimeout bounds how long Close waits for a hung disk.
	CloseTimeout time.Duration
	// Logger receives write and rotation failures.
	Logger zerolog.Logger
}

// Writer appends records to the records file. Its methods are safe for
// concurrent use.
type Writer struct {
	file *file
	sink *logsink.Sink
	enc  zerolog.Logger
	// closing is held shared by Append and exclusively by Close, so that
	// no append slips past Close into a closed file.
	closing sync.RWMutex
	closed  atomic.Bool
}

// Open opens or creates the records file in append mode. The caller must
// Close the Writer.
func Open(opts Options) (*Writer, error) { return open(opts, openAppend) }

func open(o Options, openHandle func(string) (handle, error)) (*Writer, error) {
	switch {
	case o.Path == "":
		return nil, fmt.Errorf("%w: empty path", ErrInvalidOptions)
	case o.MaxBackups < 0:
		return nil, fmt.Errorf("%w: MaxBackups %d < 0", ErrInvalidOptions, o.MaxBackups)
	case o.MaxPending < 0:
		return nil, fmt.Errorf("%w: MaxPending %d < 0", ErrInvalidOptions, o.MaxPending)
	case o.SyncInterval < 0:
		return nil, fmt.Errorf("%w: SyncInterval %s < 0: records are always fsynced", ErrInvalidOptions, o.SyncInterval)
	}
	f, size, err := openFile(openHandle, o.Path)
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	syncDir(o.Path)
	file := &file{
		path: o.Path, maxBytes: orDefault(o.MaxBytes, DefaultMaxBytes), maxBackups: orDefault(o.MaxBackups, DefaultMaxBackups),
		open: openHandle, log: o.Logger.With().Str("component", "records").Str("path", o.Path).Logger(),
		f: f, size: size,
	}
	sink := logsink.New(file, logsink.Options{
		FlushInterval: orDefault(o.FlushInterval, DefaultFlushInterval),
		SyncInterval:  orDefault(o.SyncInterval, DefaultSyncInterval),
		MaxPending:    orDefault(o.MaxPending, DefaultMaxPending),
		CloseTimeout:  orDefault(o.CloseTimeout, DefaultCloseTimeout),
	})
	return &Writer{file: file, sink: sink, enc: zerolog.New(sink)}, nil
}

// orDefault is v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Append queues v as one JSON line without doing I/O: a full buffer drops
// the record and counts it in Dropped. It returns ErrClosed after Close.
func (w *Writer) Append(v zerolog.LogObjectMarshaler) error {
	w.closing.RLock()
	defer w.closing.RUnlock()
	if w.closed.Load() {
		return ErrClosed
	}
	w.enc.Log().EmbedObject(v).Send()
	return nil
}

// Written is the number of records the file has taken.
func (w *Writer) Written() uint64 { return w.sink.Written() }

// Dropped is the number of records lost to a full buffer, a failed write
// or a disk still hung at Close.
func (w *Writer) Dropped() uint64 { return w.sink.Dropped() }

// Flush writes everything appended before the call and fsyncs the file.
func (w *Writer) Flush() error {
	if w.closed.Load() {
		return ErrClosed
	}
	return w.sink.Flush()
}

// Reopen writes what is pending to the current file, then opens Path
// again: for SIGHUP after a tool renamed the file away. If Path cannot be
// opened, writing goes on to the old file and the error is returned.
func (w *Writer) Reopen() error {
	if w.closed.Load() {
		return ErrClosed
	}
	err := w.sink.Flush()
	return errors.Join(err, w.file.reopen())
}

// Close writes everything pending, fsyncs and closes the file; records
// appended before it are durable once it returns nil. On a disk that
// hangs it gives up after CloseTimeout (logsink.ErrStuck), leaving the
// file open. Later calls return nil.
func (w *Writer) Close() error {
	w.closing.Lock()
	already := w.closed.Swap(true)
	w.closing.Unlock()
	if already {
		return nil
	}
	err := w.sink.Close()
	if errors.Is(err, logsink.ErrStuck) {
		return fmt.Errorf("records: %w", err)
	}
	return errors.Join(err, w.file.close())
}
