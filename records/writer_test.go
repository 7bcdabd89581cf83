package records

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendVia names the three ways a caller can hand over a record.
var appendVia = []struct {
	name string
	fn   func(w *Writer, r *rec) error
}{
	{"Append", func(w *Writer, r *rec) error { return w.Append(r) }},
	{"AppendFunc", func(w *Writer, r *rec) error { return w.AppendFunc(r.appendJSON) }},
	{"AppendLine", func(w *Writer, r *rec) error { return w.AppendLine(r.appendJSON(nil)) }},
}

func TestConcurrentAppendExactlyOnce(t *testing.T) {
	const workers, perWorker = 6, 400
	for _, via := range appendVia {
		t.Run(via.name, func(t *testing.T) {
			// A short interval and a small MaxPending make the flusher run
			// while appends are in flight, which is the case to get right.
			w, path := openTest(t, Options{FlushInterval: 2 * time.Millisecond, MaxPending: 1 << 20})
			var wg sync.WaitGroup
			for g := range workers {
				wg.Go(func() {
					for i := range perWorker {
						r := sample(g*perWorker+i, g)
						assert.NoError(t, via.fn(w, &r))
					}
				})
			}
			wg.Wait()
			require.NoError(t, w.Flush())

			got := readRecords(t, path)
			require.Len(t, got, workers*perWorker)
			seen := make(map[int]int, len(got))
			lastPerWorker := make(map[int]int)
			for _, r := range got {
				seen[r.ID]++
				// Each worker's records stay in the order it appended them.
				if prev, ok := lastPerWorker[r.Worker]; ok {
					assert.Greater(t, r.ID, prev, "worker %d out of order", r.Worker)
				}
				lastPerWorker[r.Worker] = r.ID
			}
			for id := range workers * perWorker {
				assert.Equal(t, 1, seen[id], "record %d", id)
			}
			assert.EqualValues(t, workers*perWorker, w.Written())
			assert.Zero(t, w.Dropped())
		})
	}
}

func TestFlushMakesRecordsVisible(t *testing.T) {
	w, path := openTest(t, Options{})
	for i := range 10 {
		r := sample(i, 0)
		require.NoError(t, w.Append(&r))
	}
	assert.Zero(t, fileSize(t, path), "nothing reaches the file before a flush")
	assert.Zero(t, w.Written())

	require.NoError(t, w.Flush())
	assert.Len(t, readRecords(t, path), 10)
	assert.EqualValues(t, 10, w.Written())

	require.NoError(t, w.Flush(), "a flush with nothing pending succeeds")
	assert.Len(t, readRecords(t, path), 10)
}

func TestBackgroundFlush(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		recs int
	}{
		// The ticker alone writes the record.
		{name: "interval", opts: Options{FlushInterval: 5 * time.Millisecond}, recs: 1},
		// No ticker in sight: passing a quarter of MaxPending wakes the
		// flusher.
		{name: "threshold", opts: Options{FlushInterval: time.Hour, MaxPending: 8 << 10}, recs: 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := openTest(t, tt.opts)
			for i := range tt.recs {
				r := sample(i, 0)
				require.NoError(t, w.Append(&r))
			}
			require.Eventually(t, func() bool { return w.Written() > 0 }, 5*time.Second, time.Millisecond)
			assert.NotEmpty(t, readRecords(t, path))
		})
	}
}

func TestCloseDurableAndIdempotent(t *testing.T) {
	w, path := openTest(t, Options{})
	for i := range 100 {
		r := sample(i, 0)
		require.NoError(t, w.Append(&r))
	}
	require.NoError(t, w.Close())
	assert.Len(t, readRecords(t, path), 100, "Close writes everything pending")
	require.NoError(t, w.Close(), "second Close")

	r := sample(1, 0)
	calls := []struct {
		name string
		fn   func() error
	}{
		{"Append", func() error { return w.Append(&r) }},
		{"AppendFunc", func() error { return w.AppendFunc(r.appendJSON) }},
		{"AppendLine", func() error { return w.AppendLine([]byte(`{}`)) }},
		{"Flush", w.Flush},
		{"Reopen", w.Reopen},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			require.ErrorIs(t, c.fn(), ErrClosed)
		})
	}
	assert.Len(t, readRecords(t, path), 100)
	assert.EqualValues(t, 100, w.Written())
}

func TestCloseRacingAppendsLosesNothingAccepted(t *testing.T) {
	w, path := openTest(t, Options{FlushInterval: time.Millisecond})
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				r := sample(g*1_000_000+i, g)
				err := w.Append(&r)
				if errors.Is(err, ErrClosed) {
					return
				}
				assert.NoError(t, err)
				accepted.Add(1)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, w.Close())
	wg.Wait()
	assert.Len(t, readRecords(t, path), int(accepted.Load()))
}

func TestAppendRejectsBadRecords(t *testing.T) {
	w, path := openTest(t, Options{})
	tests := []struct {
		name    string
		fn      func() error
		wantErr error
	}{
		{"empty line", func() error { return w.AppendLine(nil) }, ErrInvalidLine},
		{"newline in line", func() error { return w.AppendLine([]byte("{}\n{}")) }, ErrInvalidLine},
		{"func returns nothing", func() error { return w.AppendFunc(func(d []byte) []byte { return d }) }, ErrInvalidLine},
		{"func returns newline", func() error {
			return w.AppendFunc(func(d []byte) []byte { return append(d, "{}\n"...) })
		}, ErrInvalidLine},
		{"unencodable value", func() error { return w.Append(make(chan int)) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.fn()
			require.Error(t, err)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			assert.NotErrorIs(t, err, ErrDropped)
		})
	}
	require.NoError(t, w.Flush())
	assert.Zero(t, fileSize(t, path), "a rejected record leaves nothing behind")
	assert.Zero(t, w.Dropped())
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		opts     Options
		wantErr  error
		contains []string
	}{
		{
			name:     "missing directory",
			opts:     Options{Path: filepath.Join(dir, "nope", "records.jsonl")},
			wantErr:  fs.ErrNotExist,
			contains: []string{filepath.Join(dir, "nope", "records.jsonl"), "directory", "does not exist"},
		},
		{name: "empty path", opts: Options{}, wantErr: ErrInvalidOptions},
		{name: "negative MaxBackups", opts: Options{Path: filepath.Join(dir, "a"), MaxBackups: -1}, wantErr: ErrInvalidOptions},
		{name: "negative MaxPending", opts: Options{Path: filepath.Join(dir, "b"), MaxPending: -1}, wantErr: ErrInvalidOptions},
		{name: "path is a directory", opts: Options{Path: dir}, contains: []string{dir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Open(tt.opts)
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

func TestOpenAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.jsonl")
	old := sample(0, 0)
	require.NoError(t, os.WriteFile(path, append(old.appendJSON(nil), '\n'), 0o600))

	w, _ := openTest(t, Options{Path: path})
	r := sample(1, 0)
	require.NoError(t, w.Append(&r))
	require.NoError(t, w.Close())

	got := readRecords(t, path)
	require.Len(t, got, 2)
	assert.Equal(t, 0, got[0].ID)
	assert.Equal(t, 1, got[1].ID)
}

func TestCreatedFileMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	_, path := openTest(t, Options{})
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
}

func TestMaxPendingDropsWhileDiskStalled(t *testing.T) {
	release := make(chan struct{})
	var stalled atomic.Bool
	logs := &lockedBuffer{}
	w, path := openTest(t, Options{
		FlushInterval: 5 * time.Millisecond,
		MaxPending:    4 << 10,
		Logger:        testLogger(logs),
		stallAfter:    20 * time.Millisecond,
		open: hookedOpen(func(f *os.File, p []byte) (int, error) {
			stalled.Store(true)
			<-release
			return f.Write(p)
		}),
	})

	// Runs before the Close registered by openTest, so a failing test
	// does not hang in Close behind the stalled write.
	var releaseOnce sync.Once
	unstall := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unstall)

	// Park the flusher inside write(2), as a dead disk would.
	first := sample(0, 0)
	require.NoError(t, w.Append(&first))
	require.Eventually(t, stalled.Load, 5*time.Second, time.Millisecond)

	// Appends keep returning at once while the flusher is stuck.
	accepted, dropped := 1, 0
	start := time.Now()
	for i := 1; i < 200; i++ {
		r := sample(i, 0)
		switch err := w.Append(&r); {
		case err == nil:
			accepted++
		case errors.Is(err, ErrDropped):
			dropped++
		default:
			require.NoError(t, err)
		}
	}
	assert.Less(t, time.Since(start), time.Second, "Append waited for the disk")
	require.Greater(t, accepted, 1)
	require.Positive(t, dropped, "a stalled disk must lead to drops, not unbounded memory")
	assert.EqualValues(t, dropped, w.Dropped())

	// Both reports must come out while the flusher is still stuck.
	require.Eventually(t, func() bool {
		l := logs.String()
		return strings.Contains(l, "records dropped") && strings.Contains(l, "stalled")
	}, 5*time.Second, time.Millisecond, "logs: %s", logs)
	assert.Contains(t, logs.String(), fmt.Sprintf(`"dropped_total":%d`, dropped))

	unstall()
	require.NoError(t, w.Close())
	assert.Len(t, readRecords(t, path), accepted, "every accepted record is written")
	assert.EqualValues(t, accepted, w.Written())
	assert.EqualValues(t, dropped, w.Dropped())
}

func TestReopenAbandonsPartlyWrittenLine(t *testing.T) {
	// The first file takes 5 bytes, then fails every write; later files
	// work.
	var opens atomic.Int32
	logs := &lockedBuffer{}
	w, path := openTest(t, Options{
		Logger: testLogger(logs),
		open: func(path string) (file, error) {
			broken := opens.Add(1) == 1
			var took bool
			return hookedOpen(func(f *os.File, p []byte) (int, error) {
				if !broken {
					return f.Write(p)
				}
				if took {
					return 0, syscall.EIO
				}
				took = true
				n, _ := f.Write(p[:5])
				return n, syscall.EIO
			})(path)
		},
	})
	for i := range 3 {
		r := sample(i, 0)
		require.NoError(t, w.Append(&r))
	}
	require.ErrorIs(t, w.Flush(), syscall.EIO)
	moved := path + ".old"
	require.NoError(t, os.Rename(path, moved))
	// The new file must not start with the tail of record 0.
	require.NoError(t, w.Reopen())
	require.NoError(t, w.Close())

	got := readRecords(t, path)
	require.Len(t, got, 2)
	assert.Equal(t, 1, got[0].ID)
	assert.Equal(t, 2, got[1].ID)
	old, err := os.ReadFile(moved)
	require.NoError(t, err)
	assert.Len(t, old, 5, "the old file keeps only the head it already had")
	assert.EqualValues(t, 1, w.Dropped())
	assert.EqualValues(t, 2, w.Written())
	assert.Contains(t, logs.String(), "partly written record")
}

func TestBackgroundSync(t *testing.T) {
	tests := []struct {
		name      string
		sync      time.Duration
		wantSyncs bool
	}{
		{name: "every SyncInterval", sync: time.Millisecond, wantSyncs: true},
		{name: "negative means only on Flush and Close", sync: -1, wantSyncs: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var syncs atomic.Int32
			open := func(path string) (file, error) {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
				if err != nil {
					return nil, err
				}
				return &hookFile{
					File:  f,
					write: func(f *os.File, p []byte) (int, error) { return f.Write(p) },
					sync:  func() { syncs.Add(1) },
				}, nil
			}
			w, _ := openTest(t, Options{FlushInterval: 2 * time.Millisecond, SyncInterval: tt.sync, open: open})
			for i := range 5 {
				r := sample(i, 0)
				require.NoError(t, w.Append(&r))
				time.Sleep(5 * time.Millisecond)
			}
			require.Eventually(t, func() bool { return w.Written() == 5 }, 5*time.Second, time.Millisecond)
			time.Sleep(10 * time.Millisecond)
			if tt.wantSyncs {
				assert.Positive(t, syncs.Load())
			} else {
				assert.Zero(t, syncs.Load())
			}
			require.NoError(t, w.Close())
			assert.Positive(t, syncs.Load(), "Close always syncs")
		})
	}
}

func TestShortWriteIsRetriedWithoutSplittingLines(t *testing.T) {
	tests := []struct {
		name string
		// cut is how many bytes of the first write reach the file.
		cut func(p []byte) int
	}{
		{"nothing written", func([]byte) int { return 0 }},
		{"half a line", func(p []byte) int { return bytes.IndexByte(p, '\n') / 2 }},
		{"ends on a line boundary", func(p []byte) int { return bytes.IndexByte(p, '\n') + 1 }},
		{"into the second line", func(p []byte) int { return bytes.IndexByte(p, '\n') + 4 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			logs := &lockedBuffer{}
			w, path := openTest(t, Options{
				Logger: testLogger(logs),
				open: hookedOpen(func(f *os.File, p []byte) (int, error) {
					if calls.Add(1) == 1 {
						n, err := f.Write(p[:tt.cut(p)])
						if err != nil {
							return n, err
						}
						return n, syscall.ENOSPC
					}
					return f.Write(p)
				}),
			})
			for i := range 5 {
				r := sample(i, 0)
				require.NoError(t, w.Append(&r))
			}
			err := w.Flush()
			require.ErrorIs(t, err, syscall.ENOSPC)
			assert.Contains(t, logs.String(), "write records file failed")

			r := sample(5, 0)
			require.NoError(t, w.Append(&r))
			require.NoError(t, w.Flush())
			got := readRecords(t, path)
			require.Len(t, got, 6)
			for i, r := range got {
				assert.Equal(t, i, r.ID, "order is kept across the retry")
			}
			assert.EqualValues(t, 6, w.Written())
			assert.Zero(t, w.Dropped())
		})
	}
}

func TestCloseCountsRecordsItCannotWrite(t *testing.T) {
	logs := &lockedBuffer{}
	w, _ := openTest(t, Options{
		Logger: testLogger(logs),
		open: hookedOpen(func(*os.File, []byte) (int, error) {
			return 0, syscall.EIO
		}),
	})
	for i := range 3 {
		r := sample(i, 0)
		require.NoError(t, w.Append(&r))
	}
	err := w.Close()
	require.ErrorIs(t, err, syscall.EIO)
	assert.EqualValues(t, 3, w.Dropped(), "records lost at close are counted")
	assert.Contains(t, logs.String(), "records lost at close")
	assert.Equal(t, err, w.Close(), "a second Close returns the first result")
}

func TestReopenAfterRename(t *testing.T) {
	w, path := openTest(t, Options{})
	moved := path + ".moved"
	add := func(from, to int) {
		for i := from; i < to; i++ {
			r := sample(i, 0)
			require.NoError(t, w.Append(&r))
		}
	}
	add(0, 3)
	require.NoError(t, w.Flush())
	require.NoError(t, os.Rename(path, moved)) // logrotate's move

	add(3, 5) // still pending: belongs to the old file
	require.NoError(t, w.Reopen())
	add(5, 8)
	require.NoError(t, w.Close())

	ids := func(rs []rec) []int {
		var out []int
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4}, ids(readRecords(t, moved)))
	assert.Equal(t, []int{5, 6, 7}, ids(readRecords(t, path)))
}

func TestReopenFailureKeepsWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "records.jsonl")
	require.NoError(t, os.Mkdir(filepath.Dir(path), 0o755))
	w, _ := openTest(t, Options{Path: path})
	require.NoError(t, os.Rename(filepath.Dir(path), filepath.Join(dir, "gone")))

	err := w.Reopen()
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), path)

	r := sample(1, 0)
	require.NoError(t, w.Append(&r))
	require.NoError(t, w.Close())
	assert.Len(t, readRecords(t, filepath.Join(dir, "gone", "records.jsonl")), 1,
		"the old file still receives records")
}

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := limiter{every: time.Second}
	steps := []struct {
		at             time.Duration
		wantOK         bool
		wantSuppressed int
	}{
		{0, true, 0},
		{100 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1500 * time.Millisecond, false, 0},
		{3 * time.Second, true, 1},
	}
	for _, s := range steps {
		ok, sup := l.allow(t0.Add(s.at))
		assert.Equal(t, s.wantOK, ok, "at %v", s.at)
		assert.Equal(t, s.wantSuppressed, sup, "at %v", s.at)
	}
}
