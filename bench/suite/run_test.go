package suite

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testbin"
)

// TestRunSessions runs the sessions section for real, with tiny windows,
// against the tlslpd binary and its baseline (loopback, free ports,
// servers stopped by the suite): every server at both loads, one window
// per round each, and the machine's idle time read around every window.
func TestRunSessions(t *testing.T) {
	// -race matches the daemon tests' build, so the two share the cache.
	bin := testbin.Binary(t, testbin.Build{Flags: []string{"-race"}})

	p := Defaults()
	p.Workers, p.LightWorkers, p.SessionRounds = 4, 2, 2
	p.Warmup, p.Duration = 300*time.Millisecond, 400*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, Options{Params: p, Bin: bin, Sections: map[string]bool{"sessions": true}})
	require.NoError(t, err)
	require.Empty(t, rep.Skipped)

	type level struct {
		server  string
		workers int
	}
	var got []level
	for _, row := range rep.Sessions {
		got = append(got, level{row.Server, row.Workers})
		assert.Positive(t, row.Sessions(), "%s at %d workers", row.Server, row.Workers)
		assert.Zero(t, row.Errors, "%s at %d workers: %s", row.Server, row.Workers, row.ErrSample)
		assert.Positive(t, row.CPUSeconds, row.Server)
		assert.Len(t, row.RoundCPU, p.SessionRounds, row.Server)
		assert.Len(t, row.RoundRates, p.SessionRounds, row.Server)
		assert.Positive(t, row.MachineTotal, row.Server)
		assert.LessOrEqual(t, row.MachineIdle, row.MachineTotal, row.Server)
	}
	assert.Equal(t, []level{
		{NameTlslpd, 4}, {NameBaseline, 4}, {NameTlslpdQuiet, 4},
		{NameTlslpd, 2}, {NameBaseline, 2},
	}, got)
	for _, ts := range Targets(*rep)[:2] {
		assert.True(t, ts.Known, ts.Name)
	}
}
