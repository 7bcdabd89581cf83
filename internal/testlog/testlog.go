package testlog

import (
	"bytes"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Buffer is a bytes.Buffer that other goroutines may write while the test
// reads it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Reset forgets everything written so far.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

// Events parses every line written so far as a JSON object, in order; the
// test fails at a line that is not one.
func (b *Buffer) Events(t testing.TB) []map[string]any {
	t.Helper()
	return ParseLines(t, []byte(b.String()))
}

// ParseLines parses JSON lines (a log, a records file) as objects, in
// order, skipping empty lines; the test fails at a line that is not one.
func ParseLines(t testing.TB, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var ev map[string]any
		require.NoError(t, json.Unmarshal(line, &ev), "a line that is not a JSON object: %s", line)
		out = append(out, ev)
	}
	return out
}

// WithMessage is the events whose "message" is msg, in order.
func (b *Buffer) WithMessage(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range b.Events(t) {
		if ev["message"] == msg {
			out = append(out, ev)
		}
	}
	return out
}

// Keys is the keys of the JSON object in line, in the order they stand
// there (which a map loses): for checks of field order.
func Keys(t testing.TB, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok, "not a JSON object: %s", line)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}
