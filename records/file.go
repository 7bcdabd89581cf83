package records

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/rs/zerolog"
)

// handle is the part of *os.File the records file uses; tests put a hung
// or failing disk behind it.
type handle interface {
	io.WriteCloser
	Sync() error
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
}

func openAppend(path string) (handle, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

// file is the records file as the sink's output: it rotates before a
// batch that would pass maxBytes and takes back a batch written only in
// part. Only the sink's flusher writes, but Reopen and Close come from
// other goroutines, hence mu.
type file struct {
	path       string
	maxBytes   int64 // <= 0: never rotate
	maxBackups int
	open       func(string) (handle, error)
	log        zerolog.Logger

	mu      sync.Mutex
	f       handle
	size    int64
	failing bool // the last write failed; logged once until one works
}

// openFile opens path for appending and returns its size, so rotation
// counts what a previous run left.
func openFile(open func(string) (handle, error), path string) (handle, int64, error) {
	f, err := open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("open records file %q: directory %q does not exist: %w", path, filepath.Dir(path), err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open records file %q: %w", path, err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("records file %q: %w", path, err)
	}
	return f, st.Size(), nil
}

// Write appends one batch of whole lines. A write that fails part way is
// truncated away, so the next batch does not start inside a line; the
// sink counts the batch's lines as dropped.
func (r *file) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, ErrClosed
	}
	if r.maxBytes > 0 && r.size > 0 && r.size+int64(len(p)) > r.maxBytes {
		if err := r.rotate(); err != nil {
			r.log.Error().Err(err).Msg("rotating the records file failed; writing on to the current file")
		}
	}
	n, err := r.f.Write(p)
	if err != nil && n > 0 && r.f.Truncate(r.size) == nil {
		n = 0
	}
	r.size += int64(n)
	switch {
	case err != nil && !r.failing:
		r.log.Error().Err(err).Msg("writing the records file failed; records are dropped and counted until a write succeeds")
	case err == nil && r.failing:
		r.log.Info().Msg("writing the records file works again")
	}
	r.failing = err != nil
	if err != nil {
		return n, fmt.Errorf("write records file %q: %w", r.path, err)
	}
	return n, nil
}

// Sync is called by the sink.
func (r *file) Sync() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return ErrClosed
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("fsync records file %q: %w", r.path, err)
	}
	return nil
}

// rotate moves FILE to FILE.1 (and FILE.i to FILE.i+1; rename(2) replaces
// FILE.N, which drops the oldest) and opens a fresh FILE. On failure the
// current descriptor stays in use.
func (r *file) rotate() error {
	// The old file is complete: make it durable before it becomes a backup.
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("fsync before rotation: %w", err)
	}
	for i := r.maxBackups - 1; i >= 1; i-- {
		err := os.Rename(backupName(r.path, i), backupName(r.path, i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("shift backups: %w", err)
		}
	}
	if err := os.Rename(r.path, backupName(r.path, 1)); err != nil {
		return err
	}
	if err := r.switchTo(); err != nil {
		// The descriptor still writes to FILE.1: give it its name back.
		return errors.Join(err, os.Rename(backupName(r.path, 1), r.path))
	}
	return nil
}

// switchTo opens path afresh and closes the old descriptor.
func (r *file) switchTo() error {
	nf, size, err := openFile(r.open, r.path)
	if err != nil {
		return err
	}
	old := r.f
	r.f, r.size = nf, size
	syncDir(r.path)
	err = old.Sync()
	return errors.Join(err, old.Close())
}

func (r *file) reopen() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return ErrClosed
	}
	return r.switchTo()
}

func (r *file) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// backupName is FILE.i; FILE.1 is the newest backup.
func backupName(path string, i int) string { return fmt.Sprintf("%s.%d", path, i) }

// syncDir makes a created or renamed file's directory entry durable; the
// data itself is fsynced, so a failure here is not worth failing for.
func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
