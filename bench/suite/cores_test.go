package suite

import (
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCoresTable(t *testing.T) {
	row := func(k int, server string, sessions uint64, cpu float64) CoresRow {
		return CoresRow{Cores: k, SessionsRow: SessionsRow{Server: server, Workers: 128, Completed: sessions, Seconds: 10, CPUSeconds: cpu, P99ms: 12}}
	}
	r := &Report{Params: Defaults(), Cores: []CoresRow{
		row(1, NameTlslpd, 12500, 10), row(1, NameBaseline, 10000, 10),
		row(2, NameTlslpd, 25000, 20), row(2, NameBaseline, 20000, 25),
	}}
	cells := coresCells(r)
	require.Len(t, cells, 2, "one line per core count")
	assert.Equal(t, []string{"2", "2500", "2000", "1.25x", "0.800", "1.250", "0.64x", "12.0", "12.0"}, cells[1])
	md := Render(r)
	assert.Contains(t, md, "## Sessions/s and CPU per session by server cores")
	assert.Contains(t, md, "| 1 | 1250 | 1000 | 1.25x |")
}

// Where nothing can be pinned the section measures nothing and says why.
func TestCoresSectionSaysWhyItDidNotRun(t *testing.T) {
	r := &runner{opt: Options{Log: io.Discard, Params: Defaults()}, report: &Report{}}
	if runtime.NumCPU() >= minPinCPUs {
		r.opt.NoPin = true // pinning for real would move this test's threads
	}
	require.NoError(t, r.cores(t.Context()))
	assert.Empty(t, r.report.Cores)
	require.Len(t, r.report.Skipped, 1)
	assert.True(t, strings.HasPrefix(r.report.Skipped[0], "cores: "), r.report.Skipped[0])
}
