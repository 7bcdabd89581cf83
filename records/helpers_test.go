package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testlog"
)

// rec stands in for eventloop.Record.
type rec struct {
	ID     int    `json:"id"`
	Worker int    `json:"worker"`
	Pad    string `json:"pad,omitempty"`
}

func (r *rec) MarshalZerologObject(e *zerolog.Event) {
	e.Int("id", r.ID).Int("worker", r.Worker)
	if r.Pad != "" {
		e.Str("pad", r.Pad)
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

func ids(rs []rec) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// openTest opens a Writer on a fresh file whose flusher only runs when
// asked unless opts say otherwise; hook, when set, wraps the file.
func openTest(t *testing.T, opts Options, hook *hookFile) (*Writer, string) {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "records.jsonl")
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = time.Hour
	}
	openHandle := openAppend
	if hook != nil {
		openHandle = func(path string) (handle, error) {
			f, err := openAppend(path)
			if err != nil {
				return nil, err
			}
			h := *hook
			h.handle = f
			return &h, nil
		}
	}
	w, err := open(opts, openHandle)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w, opts.Path
}

// hookFile wraps the real file so tests can fail, stall or count calls.
type hookFile struct {
	handle
	write func(h handle, p []byte) (int, error)
	syncs *countingSyncs
}

type countingSyncs struct {
	mu sync.Mutex
	n  int
}

func (c *countingSyncs) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (h *hookFile) Write(p []byte) (int, error) {
	if h.write == nil {
		return h.handle.Write(p)
	}
	return h.write(h.handle, p)
}

func (h *hookFile) Sync() error {
	if h.syncs != nil {
		h.syncs.mu.Lock()
		h.syncs.n++
		h.syncs.mu.Unlock()
	}
	return h.handle.Sync()
}

func zerologTo(b *testlog.Buffer) zerolog.Logger { return zerolog.New(b) }
