package suite

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRenderEndsWithTheMarker(t *testing.T) {
	for name, r := range map[string]*Report{"full": sample(), "empty": {}} {
		md := Render(r)
		assert.True(t, strings.HasSuffix(md, "\n\n"+HandWrittenMarker+"\n"), "%s: %q", name, md[max(0, len(md)-120):])
		assert.Equal(t, 1, strings.Count(md, HandWrittenMarker), name)
	}
}

func TestKeepHandWritten(t *testing.T) {
	rendered := "# tlslpd benchmarks\n\nnew figures\n\n" + HandWrittenMarker + "\n"
	newPart := "# tlslpd benchmarks\n\nnew figures\n\n"
	hand := "\n## Client authentication modes\n\n| a | b |\n\n## Hostile clients\n\nby hand\n"
	tests := []struct {
		name     string
		previous string
		want     string
		kept     bool
	}{
		{"no previous file", "", rendered, true},
		{"hand-written part kept, old figures replaced",
			"# tlslpd benchmarks\n\nold figures\n\n" + HandWrittenMarker + "\n" + hand,
			rendered + hand, true},
		{"marker with CRLF and spaces",
			"old\r\n  " + HandWrittenMarker + " \r\n" + "by hand\r\n",
			rendered + "by hand\r\n", true},
		{"marker as the last line without newline", "old\n" + HandWrittenMarker, rendered, true},
		{"nothing below the marker", "old\n" + HandWrittenMarker + "\n", rendered, true},
		{"a second marker below is hand-written text",
			"old\n" + HandWrittenMarker + "\nA\n" + HandWrittenMarker + "\nB\n",
			rendered + "A\n" + HandWrittenMarker + "\nB\n", true},
		{"the marker inside a line is not the marker",
			"old `" + HandWrittenMarker + "`\n## by hand\n", rendered, false},
		{"no marker: nothing can be kept", "old figures\n## by hand\n", rendered, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, kept := KeepHandWritten(rendered, tc.previous)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.kept, kept)
			assert.True(t, strings.HasPrefix(got, newPart), "the generated part is the new one")
		})
	}
}

// make bench twice: the hand-written part survives both, the figures are
// the latest, and a file without the marker is replaced with a warning.
func TestWriteReportKeepsTheHandWrittenPart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	var warn bytes.Buffer
	first := sample()
	require.NoError(t, writeReport(path, Render(first), &warn))
	assert.Empty(t, warn.String(), "a new file is no loss")

	hand := "\n## Client authentication modes (by hand)\n\n| mode | µs |\n| --- | ---: |\n| any | 364 |\n"
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(hand)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	second := sample()
	second.Machine.CPU = "Another CPU"
	require.NoError(t, writeReport(path, Render(second), &warn))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, Render(second)+hand, string(data))
	assert.NotContains(t, string(data), "| CPU | Test CPU |", "the old figures are gone")
	assert.Empty(t, warn.String())

	require.NoError(t, os.WriteFile(path, []byte("# an old report\n\n## by hand, no marker\n"), 0o644))
	require.NoError(t, writeReport(path, Render(second), &warn))
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, Render(second), string(data))
	assert.Contains(t, warn.String(), "had no line \""+HandWrittenMarker+"\", so none of it was kept")
	assert.Equal(t, 1, strings.Count(warn.String(), "\n"))

	require.Error(t, writeReport(t.TempDir(), Render(second), &warn), "a directory cannot be read as the old report")
}

// The repository's BENCHMARKS.md keeps its hand-written sections below the
// marker, so the next `make bench` keeps them.
func TestRepositoryBenchmarksHasTheMarker(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "BENCHMARKS.md"))
	require.NoError(t, err)
	end, ok := markerEnd(string(data))
	require.True(t, ok, "BENCHMARKS.md lacks the line %q", HandWrittenMarker)
	got, kept := KeepHandWritten(Render(sample()), string(data))
	require.True(t, kept)
	assert.True(t, strings.HasSuffix(got, string(data)[end:]))
}
