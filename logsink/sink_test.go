package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is an out that counts its Write calls; gate, when set, blocks
// every Write until it is closed.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	gate   chan struct{}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	return r.buf.Write(p)
}

func (r *recorder) snapshot() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String(), r.writes
}

func lines(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %04d\n", prefix, i)
	}
	return out
}

const never = time.Hour

func TestLinesArriveInOrderInFewWrites(t *testing.T) {
	out := &recorder{}
	s := New(out, Options{FlushInterval: never})
	defer s.Close()
	want := lines(500, "line")
	for _, l := range want {
		n, err := s.Write([]byte(l))
		require.NoError(t, err)
		require.Equal(t, len(l), n)
	}
	got, writes := out.snapshot()
	assert.Empty(t, got, "nothing is written on the caller's goroutine")
	require.NoError(t, s.Flush())
	got, writes = out.snapshot()
	assert.Equal(t, strings.Join(want, ""), got)
	assert.Equal(t, 1, writes, "500 lines, one write")
}

func TestFlushTriggers(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		bytes    int
	}{
		{"the interval passes", 10 * time.Millisecond, 100},
		{"a batch's worth is pending", never, batchBytes + 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := &recorder{}
			s := New(out, Options{FlushInterval: tc.interval})
			defer s.Close()
			line := strings.Repeat("x", 99) + "\n"
			for range tc.bytes / len(line) {
				_, _ = s.Write([]byte(line))
			}
			require.Eventually(t, func() bool {
				got, _ := out.snapshot()
				return len(got) >= tc.bytes/len(line)*len(line)
			}, 5*time.Second, time.Millisecond)
		})
	}
}

func TestIdleSinkDoesNotWrite(t *testing.T) {
	out := &recorder{}
	s := New(out, Options{FlushInterval: time.Millisecond})
	defer s.Close()
	_, _ = s.Write([]byte("one\n"))
	require.Eventually(t, func() bool { _, w := out.snapshot(); return w == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	_, writes := out.snapshot()
	assert.Equal(t, 1, writes, "no empty writes while idle")
}

func TestBlockedOutputDropsInsteadOfBlocking(t *testing.T) {
	out := &recorder{gate: make(chan struct{})}
	s := New(out, Options{FlushInterval: time.Millisecond, MaxPending: 1000})
	line := strings.Repeat("y", 99) + "\n"
	// The first line is taken by the flusher, which then hangs in out;
	// the next ten fill the pending buffer; the rest must not block.
	_, _ = s.Write([]byte(line))
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.pending) == 0
	}, 5*time.Second, time.Millisecond)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		for range 50 {
			_, _ = s.Write([]byte(line))
		}
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Write blocked on a stuck output")
	}
	assert.Equal(t, uint64(40), s.Dropped())
	close(out.gate)
	require.NoError(t, s.Close())
	got, _ := out.snapshot()
	assert.Equal(t, 11, strings.Count(got, "\n"), "every line not dropped is written")
}

func TestCloseFlushesAndWritesThroughAfter(t *testing.T) {
	out := &recorder{}
	s := New(out, Options{FlushInterval: never})
	_, _ = s.Write([]byte("before\n"))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "a second Close is harmless")
	_, _ = s.Write([]byte("after\n"))
	got, _ := out.snapshot()
	assert.Equal(t, "before\nafter\n", got)
}

func TestConcurrentWritersKeepLinesWhole(t *testing.T) {
	out := &recorder{}
	s := New(out, Options{FlushInterval: time.Millisecond})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, l := range lines(300, fmt.Sprintf("writer%d", w)) {
				_, _ = s.Write([]byte(l))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, s.Close())
	got, _ := out.snapshot()
	all := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	require.Len(t, all, 1200)
	next := map[string]int{}
	for _, l := range all {
		var who string
		var i int
		_, err := fmt.Sscanf(l, "%s %d", &who, &i)
		require.NoError(t, err, "whole line %q", l)
		assert.Equal(t, next[who], i, "each writer's lines in order")
		next[who] = i + 1
	}
}

func TestCloseGivesUpOnAStuckOutput(t *testing.T) {
	out := &recorder{gate: make(chan struct{})}
	defer close(out.gate)
	s := New(out, Options{FlushInterval: time.Millisecond, CloseTimeout: 50 * time.Millisecond})
	_, _ = s.Write([]byte("taken by the flusher, which hangs\n"))
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.pending) == 0
	}, 5*time.Second, time.Millisecond)
	for range 3 {
		_, _ = s.Write([]byte("waiting\n"))
	}
	began := time.Now()
	err := s.Close()
	require.ErrorIs(t, err, ErrStuck)
	assert.Contains(t, err.Error(), "3 lines unwritten")
	assert.Less(t, time.Since(began), 5*time.Second)
	assert.Equal(t, uint64(3), s.Dropped())
}

// failing is an out that takes the first half of each write, then fails.
type failing struct{ recorder }

func (f *failing) Write(p []byte) (int, error) {
	n, _ := f.recorder.Write(p[:len(p)/2])
	return n, errors.New("disk full")
}

func TestWrittenAndDroppedCountLines(t *testing.T) {
	ok := &recorder{}
	s := New(ok, Options{FlushInterval: never})
	for _, l := range lines(10, "ok") {
		_, _ = s.Write([]byte(l))
	}
	require.NoError(t, s.Close())
	assert.EqualValues(t, 10, s.Written())
	assert.Zero(t, s.Dropped())

	bad := &failing{}
	s = New(bad, Options{FlushInterval: never})
	for _, l := range lines(10, "bad") {
		_, _ = s.Write([]byte(l))
	}
	require.Error(t, s.Flush())
	assert.EqualValues(t, 5, s.Written(), "the lines out took")
	assert.EqualValues(t, 5, s.Dropped(), "lines out refused are counted, not retried")
	require.NoError(t, s.Close(), "nothing left to write")
}

// syncRecorder counts Sync calls.
type syncRecorder struct {
	recorder
	syncs atomic.Int32
}

func (s *syncRecorder) Sync() error { s.syncs.Add(1); return nil }

func TestDurableSinkSyncs(t *testing.T) {
	out := &syncRecorder{}
	s := New(out, Options{FlushInterval: time.Millisecond, SyncInterval: time.Millisecond})
	require.NoError(t, s.Flush())
	assert.Zero(t, out.syncs.Load(), "nothing written, nothing to sync")
	_, _ = s.Write([]byte("a\n"))
	require.Eventually(t, func() bool { return out.syncs.Load() == 1 }, 5*time.Second, time.Millisecond,
		"synced SyncInterval after the write, with no Flush")
	_, _ = s.Write([]byte("b\n"))
	require.NoError(t, s.Close())
	assert.GreaterOrEqual(t, out.syncs.Load(), int32(2), "Close syncs what it wrote")

	plain := &syncRecorder{}
	s = New(plain, Options{FlushInterval: never})
	_, _ = s.Write([]byte("a\n"))
	require.NoError(t, s.Close())
	assert.Zero(t, plain.syncs.Load(), "without SyncInterval out is never synced (stderr)")
}

func TestBuffersABurstGrewAreNotKept(t *testing.T) {
	out := &recorder{}
	s := New(out, Options{FlushInterval: never})
	defer s.Close()
	// What a burst of lines leaves: both buffers grown past a batch.
	s.mu.Lock()
	s.pending = append(make([]byte, 0, 4*batchBytes), "burst\n"...)
	s.spare = make([]byte, 0, 4*batchBytes)
	s.mu.Unlock()
	require.NoError(t, s.Flush())
	s.mu.Lock()
	pending, spare := cap(s.pending), cap(s.spare)
	s.mu.Unlock()
	assert.LessOrEqual(t, pending, batchBytes, "pending buffer")
	assert.LessOrEqual(t, spare, batchBytes, "spare buffer")

	_, _ = s.Write([]byte("after\n"))
	require.NoError(t, s.Flush())
	got, _ := out.snapshot()
	assert.Equal(t, "burst\nafter\n", got)
}

func TestSteadyBatchesReuseTheirBuffers(t *testing.T) {
	out := &recorder{}
	s := New(out, Options{FlushInterval: never})
	defer s.Close()
	line := []byte(strings.Repeat("x", 999) + "\n")
	batch := func() {
		for range batchBytes / len(line) / 2 { // half a batch: the flusher stays asleep
			_, _ = s.Write(line)
		}
		require.NoError(t, s.Flush())
	}
	batch()
	batch()
	allocs := testing.AllocsPerRun(10, batch)
	assert.Zero(t, allocs, "a batch like the last ones reuses the spare buffer")
}
