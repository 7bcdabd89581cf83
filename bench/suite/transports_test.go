package suite

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/verify"
	"tlslpd/internal/testbin"
)

// transportsSample: over plain TCP tlslpd spends 60 µs per session (20
// user, 40 system) against the baseline's 100 (50 and 50); over TLS 600
// against 700.
func transportsSample() *Report {
	row := func(server, transport string, sessions uint64, cpu, user, sys float64, rounds []float64, checks uint64) TransportsRow {
		return TransportsRow{Transport: transport, SessionsRow: SessionsRow{Server: server, Workers: 128, Completed: sessions / 10, Injected: sessions - sessions/10,
			Seconds: 10, CPUSeconds: cpu, RoundCPU: rounds, MachineIdle: 10, MachineTotal: 1000}, PoWChecks: checks,
			ProcCounters: ProcCounters{UserSeconds: user, SystemSeconds: sys, ReadCalls: 10 * sessions, WriteCalls: 11 * sessions, IOKnown: true}}
	}
	r := sample()
	r.Transports = []TransportsRow{
		row(NameTlslpd, TransportTCP, 100000, 6, 2, 4, []float64{0.05, 0.07}, 100000),
		row(NameBaseline, TransportTCP, 80000, 8, 4, 4, []float64{0.1, 0.1}, 0),
		row(NameTlslpd, TransportTLS, 10000, 6, 5, 1, []float64{0.6}, 10000),
		row(NameBaseline, TransportTLS, 10000, 7, 6, 1, []float64{0.7}, 0),
	}
	return r
}

func TestTransportsCellsAndProse(t *testing.T) {
	md := Render(transportsSample())
	for _, want := range []string{
		"## 6. Transports: plain TCP against TLS",
		// 60 µs vs 100 µs per session; per round 0.05/0.1 and 0.07/0.1;
		// against its own TLS row 60/600.
		"| tlslpd | tcp | 100000 | 0 | 10000 | 1.25x | 60.0 | 20.0 | 40.0 | 10.0 / 11.0 | 0.60x | 0.60x (0.50x–0.70x) | 0.10x | 1% |",
		"| baseline | tcp | 80000 | 0 | 8000 | 1.00x | 100.0 | 50.0 | 50.0 | 10.0 / 11.0 | 1.00x | — | 0.14x | 1% |",
		"| tlslpd | tls | 10000 | 0 | 1000 | 1.00x | 600.0 | 500.0 | 100.0 | 10.0 / 11.0 | 0.86x | 0.86x (0.86x–0.86x) | — | 1% |",
		// 100,000 checks in 10 s; 6 s of CPU over them; the verifier at
		// 2e7/s is 0.05 µs, 0.05/60 of a check's CPU.
		"tlslpd counted 100000 checks (`tlslpd_pow_checks_total`, 1.00 per session",
		"**10000 checks/s**",
		"60.0 µs of server CPU per check with the session around it. The check itself costs 0.05 µs (section 3, one core), 0% of that",
		"system time per session is 40.0 µs for tlslpd (user 20.0 µs) and 50.0 µs for the baseline (user 50.0 µs); half the baseline's CPU per session is 50.0 µs. System time holds the system calls any server",
		"tlslpd's system time is below half the baseline's CPU, so the kernel's share alone does not rule the goal out.",
		"| server CPU per session over plain TCP | tlslpd ≤ 0.5x baseline, 128 workers | 0.60x | **not met** |",
	} {
		assert.Contains(t, md, want)
	}

	r := transportsSample()
	r.Transports[1].IOKnown = false
	assert.Contains(t, Render(r), "| baseline | tcp | 80000 | 0 | 8000 | 1.00x | 100.0 | 50.0 | 50.0 | n/a | 1.00x |")
	r.Transports[0].SystemSeconds = 5.5 // 55 µs: above half the baseline's 100
	r.PoW = nil
	md = Render(r)
	assert.Contains(t, md, "tlslpd's system time alone is above half the baseline's CPU, so no change to tlslpd's user-space code alone can meet the goal")
	assert.NotContains(t, md, "The check itself costs", "no verifier figure without section 3")

	r.Transports = nil
	md = Render(r)
	assert.NotContains(t, md, "## 6.")
	assert.Contains(t, md, "| server CPU per session over plain TCP | tlslpd ≤ 0.5x baseline, 128 workers | — | **not measured** |")
}

func TestTransportsTargetBoundary(t *testing.T) {
	r := transportsSample()
	r.Transports[0].CPUSeconds = 0.5 * 100e-6 * 100000 // exactly half the baseline's 100 µs
	assert.Equal(t, "met", statusOf(Targets(*r))["server CPU per session over plain TCP"])
	r.PoW = &verify.Result{}
	assert.NotContains(t, Render(r), "The check itself costs", "a verifier figure of 0/s is no figure")
}

// TestRunTransports runs the transports section for real with tiny
// windows: every server over both transports, no errors, user and system
// time read, and tlslpd's PoW counter one check per session.
func TestRunTransports(t *testing.T) {
	bin := testbin.Binary(t, testbin.Build{Flags: []string{"-race"}})
	p := Defaults()
	p.TransportWorkers, p.TransportRounds = 2, 2
	p.Warmup, p.Duration = 300*time.Millisecond, 400*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, Options{Params: p, Bin: bin, Sections: map[string]bool{"transports": true}})
	require.NoError(t, err)
	require.Empty(t, rep.Skipped)

	var got [][2]string
	for _, row := range rep.Transports {
		got = append(got, [2]string{row.Server, row.Transport})
		assert.Positive(t, row.Sessions(), "%s over %s", row.Server, row.Transport)
		assert.Zero(t, row.Errors, "%s over %s: %s", row.Server, row.Transport, row.ErrSample)
		assert.Len(t, row.RoundCPU, p.TransportRounds)
		assert.Positive(t, row.CPUSeconds)
		assert.InDelta(t, row.CPUSeconds, row.UserSeconds+row.SystemSeconds, 1e-9, "user and system add up to the CPU")
		// Where /proc/PID/io is readable (this process started the
		// servers), every session made at least one read and one write.
		if row.IOKnown {
			assert.GreaterOrEqual(t, row.ReadCalls, row.Sessions(), "%s over %s", row.Server, row.Transport)
			assert.GreaterOrEqual(t, row.WriteCalls, row.Sessions(), "%s over %s", row.Server, row.Transport)
		}
		if row.Server == NameBaseline {
			assert.Zero(t, row.PoWChecks)
		} else {
			// A session cut by the window's end can be checked but not
			// counted, or counted before its check: a few either way.
			assert.InDelta(t, row.Sessions(), row.PoWChecks, float64(2*p.TransportWorkers*p.TransportRounds)+1, "%s over %s", row.Server, row.Transport)
		}
	}
	assert.Equal(t, [][2]string{
		{NameTlslpd, TransportTCP}, {NameBaseline, TransportTCP}, {NameTlslpdQuiet, TransportTCP},
		{NameTlslpd, TransportTLS}, {NameBaseline, TransportTLS},
	}, got)
	assert.True(t, Targets(*rep)[2].Known)
}
