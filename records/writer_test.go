package records

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testlog"
	"tlslpd/logsink"
)

func TestConcurrentAppendsWholeLinesExactlyOnceInOrder(t *testing.T) {
	const workers, perWorker = 6, 400
	// A short interval and a small buffer make the flusher run while
	// appends are in flight, which is the case to get right.
	w, path := openTest(t, Options{FlushInterval: time.Millisecond, MaxPending: 1 << 20}, nil)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := range perWorker {
				assert.NoError(t, w.Append(&rec{ID: g*perWorker + i, Worker: g}))
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Flush())

	got := readRecords(t, path) // fails on any partial or invalid line
	require.Len(t, got, workers*perWorker)
	seen := map[int]bool{}
	last := map[int]int{}
	for _, r := range got {
		assert.False(t, seen[r.ID], "record %d written twice", r.ID)
		seen[r.ID] = true
		if prev, ok := last[r.Worker]; ok {
			assert.Greater(t, r.ID, prev, "worker %d out of order", r.Worker)
		}
		last[r.Worker] = r.ID
	}
	assert.EqualValues(t, workers*perWorker, w.Written())
	assert.Zero(t, w.Dropped())
}

func TestRecordsReachTheFileWithoutFlush(t *testing.T) {
	w, path := openTest(t, Options{FlushInterval: time.Millisecond}, nil)
	require.NoError(t, w.Append(&rec{ID: 7}))
	require.Eventually(t, func() bool { return len(readRecords(t, path)) == 1 }, 5*time.Second, time.Millisecond)
}

// Flush and Close fsync; written records are also fsynced SyncInterval
// later without either.
func TestFsync(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		do   func(t *testing.T, w *Writer)
	}{
		{"Flush", Options{SyncInterval: time.Hour}, func(t *testing.T, w *Writer) { require.NoError(t, w.Flush()) }},
		{"Close", Options{SyncInterval: time.Hour}, func(t *testing.T, w *Writer) { require.NoError(t, w.Close()) }},
		{"SyncInterval", Options{FlushInterval: time.Millisecond, SyncInterval: 5 * time.Millisecond}, func(*testing.T, *Writer) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			syncs := &countingSyncs{}
			w, path := openTest(t, tc.opts, &hookFile{syncs: syncs})
			require.NoError(t, w.Append(&rec{ID: 1}))
			tc.do(t, w)
			require.Eventually(t, func() bool { return syncs.get() >= 1 }, 5*time.Second, time.Millisecond)
			assert.Len(t, readRecords(t, path), 1)
		})
	}
}

func TestNothingWrittenNothingSynced(t *testing.T) {
	syncs := &countingSyncs{}
	w, _ := openTest(t, Options{FlushInterval: time.Millisecond, SyncInterval: time.Millisecond}, &hookFile{syncs: syncs})
	require.NoError(t, w.Flush())
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, w.Close())
	assert.Zero(t, syncs.get(), "an idle file costs no fsync")
}

func TestCloseIsFinalAndIdempotent(t *testing.T) {
	w, path := openTest(t, Options{}, nil)
	for i := range 100 {
		require.NoError(t, w.Append(&rec{ID: i}))
	}
	require.NoError(t, w.Close())
	assert.Len(t, readRecords(t, path), 100, "Close writes everything pending")
	require.NoError(t, w.Close(), "a second Close is harmless")
	assert.ErrorIs(t, w.Append(&rec{}), ErrClosed)
	assert.ErrorIs(t, w.Flush(), ErrClosed)
	assert.ErrorIs(t, w.Reopen(), ErrClosed)
	assert.Len(t, readRecords(t, path), 100)
}

// A disk that stops taking writes: Append neither blocks nor grows memory
// without bound, and Close still returns, counting what it could not write.
func TestHungDiskDropsAndCountsAndCloseReturns(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{}, 1)
	w, _ := openTest(t, Options{FlushInterval: time.Millisecond, MaxPending: 4 << 10, CloseTimeout: 50 * time.Millisecond},
		&hookFile{write: func(h handle, p []byte) (int, error) {
			entered <- struct{}{}
			<-release
			return h.Write(p)
		}})
	require.NoError(t, w.Append(&rec{ID: 0}))
	<-entered // the flusher is stuck in write(2)

	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for i := 1; i <= 500; i++ {
			_ = w.Append(&rec{ID: i, Pad: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})
		}
	}()
	select {
	case <-appended:
	case <-time.After(30 * time.Second):
		t.Fatal("Append waited for a hung disk")
	}
	dropped := w.Dropped()
	assert.Positive(t, dropped, "a full buffer drops, it does not grow")
	assert.Less(t, dropped, uint64(500), "what fits in MaxPending is kept")

	err := w.Close()
	require.ErrorIs(t, err, logsink.ErrStuck)
	assert.EqualValues(t, 500, w.Dropped(), "every record not inside the hung write is counted")
}

// A write that fails part way leaves no half line: the batch is taken back,
// counted as dropped, and the next batch starts on a line boundary.
func TestFailedWriteLeavesWholeLinesAndIsCounted(t *testing.T) {
	logs := &testlog.Buffer{}
	var fail sync.Mutex
	failing := true
	w, path := openTest(t, Options{Logger: zerologTo(logs)},
		&hookFile{write: func(h handle, p []byte) (int, error) {
			fail.Lock()
			defer fail.Unlock()
			if failing {
				n, _ := h.Write(p[:len(p)/2+3])
				return n, syscall.ENOSPC
			}
			return h.Write(p)
		}})
	require.NoError(t, w.Append(&rec{ID: 0}))
	require.NoError(t, w.Append(&rec{ID: 1}))
	require.ErrorIs(t, w.Flush(), syscall.ENOSPC)
	assert.EqualValues(t, 2, w.Dropped())
	assert.Empty(t, readRecords(t, path))
	assert.Contains(t, logs.String(), "records are dropped and counted")

	fail.Lock()
	failing = false
	fail.Unlock()
	require.NoError(t, w.Append(&rec{ID: 2}))
	require.NoError(t, w.Flush())
	assert.Equal(t, []int{2}, ids(readRecords(t, path)))
	assert.EqualValues(t, 1, w.Written())
	assert.Contains(t, logs.String(), "works again")
}

func TestRotationBySize(t *testing.T) {
	const maxBytes, backups = 300, 3
	w, path := openTest(t, Options{MaxBytes: maxBytes, MaxBackups: backups}, nil)
	line := len(`{"id":10,"worker":0}` + "\n")
	const n = 60
	for i := 10; i < 10+n; i++ {
		require.NoError(t, w.Append(&rec{ID: i}))
		require.NoError(t, w.Flush()) // one batch per record
	}
	require.NoError(t, w.Close())

	var all []int
	for i := backups; i >= 1; i-- {
		name := fmt.Sprintf("%s.%d", path, i)
		st, err := os.Stat(name)
		require.NoError(t, err, "backup %d", i)
		assert.LessOrEqual(t, st.Size(), int64(maxBytes))
		assert.Greater(t, st.Size(), int64(maxBytes-line), "a backup is full before it rotates")
		all = append(all, ids(readRecords(t, name))...)
	}
	_, err := os.Stat(fmt.Sprintf("%s.%d", path, backups+1))
	assert.ErrorIs(t, err, fs.ErrNotExist, "only MaxBackups are kept")
	all = append(all, ids(readRecords(t, path))...)
	// The oldest records went with the dropped backups; the rest are
	// contiguous, newest last.
	require.NotEmpty(t, all)
	assert.Equal(t, 10+n-1, all[len(all)-1])
	for i := 1; i < len(all); i++ {
		assert.Equal(t, all[i-1]+1, all[i])
	}
}

func TestRotationCountsTheExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat(`{"id":1,"worker":0}`+"\n", 10)), 0o644))
	w, _ := openTest(t, Options{Path: path, MaxBytes: 210}, nil)
	require.NoError(t, w.Append(&rec{ID: 2}))
	require.NoError(t, w.Close())
	assert.Len(t, readRecords(t, path+".1"), 10, "the old file rotated before it passed MaxBytes")
	assert.Equal(t, []int{2}, ids(readRecords(t, path)))
}

func TestBatchLargerThanMaxBytesIsWrittenWhole(t *testing.T) {
	w, path := openTest(t, Options{MaxBytes: 100, MaxBackups: 1}, nil)
	for i := range 20 {
		require.NoError(t, w.Append(&rec{ID: i}))
	}
	require.NoError(t, w.Close())
	assert.Len(t, readRecords(t, path), 20)
	_, err := os.Stat(path + ".1")
	assert.ErrorIs(t, err, fs.ErrNotExist, "an empty file is not rotated")
}

func TestNegativeMaxBytesNeverRotates(t *testing.T) {
	w, path := openTest(t, Options{MaxBytes: -1}, nil)
	for i := range 50 {
		require.NoError(t, w.Append(&rec{ID: i, Pad: strings.Repeat("p", 100)}))
		require.NoError(t, w.Flush())
	}
	require.NoError(t, w.Close())
	assert.Len(t, readRecords(t, path), 50)
}

func TestRotationFailureKeepsWriting(t *testing.T) {
	logs := &testlog.Buffer{}
	dir := t.TempDir()
	path := filepath.Join(dir, "records.jsonl")
	// A directory where FILE.1 must go makes the rename fail.
	require.NoError(t, os.Mkdir(path+".1", 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(path+".1", "x"), nil, 0o644))
	w, _ := openTest(t, Options{Path: path, MaxBytes: 50, MaxBackups: 1, Logger: zerologTo(logs)}, nil)
	for i := range 12 {
		require.NoError(t, w.Append(&rec{ID: i}))
		require.NoError(t, w.Flush())
	}
	require.NoError(t, w.Close())
	assert.Len(t, readRecords(t, path), 12, "every record went to the current file")
	assert.Contains(t, logs.String(), "rotating the records file failed")
}

func TestReopenAfterRename(t *testing.T) {
	w, path := openTest(t, Options{}, nil)
	for i := range 5 {
		require.NoError(t, w.Append(&rec{ID: i}))
	}
	moved := path + ".moved"
	require.NoError(t, os.Rename(path, moved))
	require.NoError(t, w.Reopen(), "Reopen writes the pending records to the old file first")
	for i := 5; i < 8; i++ {
		require.NoError(t, w.Append(&rec{ID: i}))
	}
	require.NoError(t, w.Close())
	assert.Equal(t, []int{0, 1, 2, 3, 4}, ids(readRecords(t, moved)))
	assert.Equal(t, []int{5, 6, 7}, ids(readRecords(t, path)))
}

func TestReopenFailureKeepsWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gone", "records.jsonl")
	require.NoError(t, os.Mkdir(filepath.Dir(path), 0o755))
	w, _ := openTest(t, Options{Path: path}, nil)
	moved := filepath.Join(dir, "moved")
	require.NoError(t, os.Rename(filepath.Dir(path), moved))
	require.Error(t, w.Reopen())
	require.NoError(t, w.Append(&rec{ID: 1}))
	require.NoError(t, w.Close())
	assert.Len(t, readRecords(t, filepath.Join(moved, "records.jsonl")), 1, "the old file still takes records")
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.jsonl")
	require.NoError(t, os.WriteFile(existing, []byte(`{"id":0,"worker":0}`+"\n"), 0o600))
	tests := []struct {
		name     string
		opts     Options
		wantErr  error
		contains []string
	}{
		{name: "missing directory", opts: Options{Path: filepath.Join(dir, "nope", "r.jsonl")}, wantErr: fs.ErrNotExist,
			contains: []string{filepath.Join(dir, "nope"), "does not exist"}},
		{name: "empty path", wantErr: ErrInvalidOptions},
		{name: "negative MaxBackups", opts: Options{Path: filepath.Join(dir, "a"), MaxBackups: -1}, wantErr: ErrInvalidOptions},
		{name: "negative MaxPending", opts: Options{Path: filepath.Join(dir, "b"), MaxPending: -1}, wantErr: ErrInvalidOptions},
		{name: "negative SyncInterval", opts: Options{Path: filepath.Join(dir, "c"), SyncInterval: -1}, wantErr: ErrInvalidOptions},
		{name: "path is a directory", opts: Options{Path: dir}, contains: []string{dir, "is a directory"}},
		{name: "path is a device", opts: Options{Path: os.DevNull}, contains: []string{os.DevNull, "not a regular file"}},
		{name: "existing file is appended to", opts: Options{Path: existing}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Open(tt.opts)
			if tt.wantErr == nil && tt.contains == nil {
				require.NoError(t, err)
				require.NoError(t, w.Append(&rec{ID: 1}))
				require.NoError(t, w.Close())
				assert.Equal(t, []int{0, 1}, ids(readRecords(t, tt.opts.Path)))
				return
			}
			require.Error(t, err)
			assert.Nil(t, w)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			for _, s := range tt.contains {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestCreatedFileMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	_, path := openTest(t, Options{}, nil)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
}

// Appends racing Close: each one either returns ErrClosed or ends up in
// the file; none is lost after reporting success.
func TestAppendsRacingCloseAreWrittenOrRefused(t *testing.T) {
	w, path := openTest(t, Options{FlushInterval: time.Millisecond}, nil)
	var accepted sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for g := range 4 {
		accepted.Go(func() {
			for i := 0; ; i++ {
				if err := w.Append(&rec{ID: i, Worker: g}); err != nil {
					assert.ErrorIs(t, err, ErrClosed)
					return
				}
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, w.Close())
	accepted.Wait()
	assert.Len(t, readRecords(t, path), ok)
	assert.Zero(t, w.Dropped())
}
