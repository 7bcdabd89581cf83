package records

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// backupName is FILE.i; FILE.1 is the newest backup.
func backupName(path string, i int) string { return fmt.Sprintf("%s.%d", path, i) }

// rotateLocked moves the current file to FILE.1 and opens a fresh FILE.
// Every failure is logged and leaves the Writer on a usable file, because
// refusing to write is worse than a file larger than MaxBytes.
func (w *Writer) rotateLocked() {
	if err := w.rotateFilesLocked(); err != nil {
		if ok, suppressed := w.io.rotateLog.allow(time.Now()); ok {
			w.log.Error().Err(err).Int("suppressed", suppressed).
				Msg("rotate records file failed; writing continues to the current file")
		}
	}
}

func (w *Writer) rotateFilesLocked() error {
	// The old file is complete after this point; make it durable before
	// it becomes a backup nobody writes again.
	if err := w.syncLocked(); err != nil {
		return err
	}
	// Shift oldest first. rename(2) replaces an existing target, which is
	// what drops FILE.N; gaps (a missing FILE.i) are skipped.
	var errs []error
	for i := w.maxBackups - 1; i >= 1; i-- {
		err := os.Rename(backupName(w.path, i), backupName(w.path, i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("records: shift backup: %w", err))
		}
	}
	first := backupName(w.path, 1)
	// The open descriptor keeps pointing at the renamed file, so a failure
	// after this rename can fall back to it.
	if err := os.Rename(w.path, first); err != nil {
		return errors.Join(append(errs, fmt.Errorf("records: rotate: %w", err))...)
	}
	nf, size, err := openAt(w.open, w.path)
	if err != nil {
		if rerr := os.Rename(first, w.path); rerr != nil {
			err = errors.Join(err, fmt.Errorf("records: undo rotation: %w", rerr))
		}
		return errors.Join(append(errs, fmt.Errorf("records: rotate: %w", err))...)
	}
	if err := w.io.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("records: close rotated file %q: %w", first, err))
	}
	w.io.f, w.io.size, w.io.dirty = nf, size, false
	w.syncDir()
	return errors.Join(errs...)
}
