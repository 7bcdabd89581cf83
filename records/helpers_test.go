package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// rec is a stand-in for eventloop.Record with the same kinds of fields.
type rec struct {
	ID       int           `json:"id"`
	Worker   int           `json:"worker"`
	Remote   string        `json:"remote"`
	Outcome  string        `json:"outcome"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Pad      string        `json:"pad,omitempty"`
}

// appendJSON is the hand-written encoder a caller would pass to AppendFunc.
func (r *rec) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, int64(r.ID), 10)
	dst = append(dst, `,"worker":`...)
	dst = strconv.AppendInt(dst, int64(r.Worker), 10)
	dst = append(dst, `,"remote":`...)
	dst = strconv.AppendQuote(dst, r.Remote)
	dst = append(dst, `,"outcome":`...)
	dst = strconv.AppendQuote(dst, r.Outcome)
	dst = append(dst, `,"start":"`...)
	dst = r.Start.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","duration_ns":`...)
	dst = strconv.AppendInt(dst, int64(r.Duration), 10)
	if r.Pad != "" {
		dst = append(dst, `,"pad":`...)
		dst = strconv.AppendQuote(dst, r.Pad)
	}
	return append(dst, '}')
}

func sample(id, worker int) rec {
	return rec{
		ID: id, Worker: worker, Remote: "192.0.2.7:51234", Outcome: "success",
		Start:    time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		Duration: 1234567 * time.Nanosecond,
	}
}

// readRecords decodes every line of path, failing on a partial or invalid
// line. A missing file has no records.
func readRecords(t *testing.T, path string) []rec {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	if len(data) > 0 {
		require.Equal(t, byte('\n'), data[len(data)-1], "%s ends in a partial line", path)
	}
	var out []rec
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r rec
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&r), "%s: line %q", path, sc.Text())
		out = append(out, r)
	}
	require.NoError(t, sc.Err())
	return out
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	return st.Size()
}

// lockedBuffer collects log output written from the Writer's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(buf *lockedBuffer) zerolog.Logger { return zerolog.New(buf) }

// openTest opens a Writer on a fresh file whose flusher only runs when asked,
// so tests decide when batches are written.
func openTest(t *testing.T, opts Options) (*Writer, string) {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "records.jsonl")
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = time.Hour
	}
	w, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w, opts.Path
}

// hookFile wraps a real file so tests can fail or stall writes.
type hookFile struct {
	*os.File
	write func(f *os.File, p []byte) (int, error)
	sync  func()
}

func (h *hookFile) Write(p []byte) (int, error) { return h.write(h.File, p) }

func (h *hookFile) Sync() error {
	if h.sync != nil {
		h.sync()
	}
	return h.File.Sync()
}

func hookedOpen(write func(f *os.File, p []byte) (int, error)) func(string) (file, error) {
	return func(path string) (file, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		return &hookFile{File: f, write: write}, nil
	}
}
