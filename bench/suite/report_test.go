package suite

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/verify"
)

func TestRatioAndFormat(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{1, 2, "0.50x"},
		{3, 1, "3.00x"},
		{1, 0, "n/a"},
		{math.NaN(), 1, "n/a"},
		{1, math.NaN(), "n/a"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, FormatRatio(Ratio(tc.a, tc.b)), "%v/%v", tc.a, tc.b)
	}
}

func TestRowAdd(t *testing.T) {
	a := SessionsRow{Completed: 10, Injected: 90, Seconds: 1, CPUSeconds: 0.1, P50ms: 5, P99ms: 50, RoundRates: []float64{100}, RoundCPU: []float64{1}, MachineIdle: 10, MachineTotal: 200}
	a.add(SessionsRow{Completed: 20, Injected: 180, Errors: 1, Seconds: 1, CPUSeconds: 0.3, P50ms: 4, P99ms: 70, ErrSample: "x", MachineIdle: 30, MachineTotal: 200})
	assert.Equal(t, SessionsRow{Completed: 30, Injected: 270, Errors: 1, Seconds: 2, CPUSeconds: 0.4, P50ms: 5, P99ms: 70, ErrSample: "x", RoundRates: []float64{100, 200}, RoundCPU: []float64{1, 1.5}, MachineIdle: 40, MachineTotal: 400}, a)
	assert.InDelta(t, 0.1, a.IdleShare(), 1e-9)
	assert.True(t, math.IsNaN(SessionsRow{}.IdleShare()))

	h := HandshakeRow{OK: 100, Seconds: 1, CPUSeconds: 0.25, RoundRates: []float64{100}}
	h.add(HandshakeRow{OK: 300, Errors: 2, Seconds: 1, CPUSeconds: 0.5})
	assert.Equal(t, HandshakeRow{OK: 400, Errors: 2, Seconds: 2, CPUSeconds: 0.75, RoundRates: []float64{100, 300}}, h)
}

func TestRoundOrder(t *testing.T) {
	assert.Equal(t, []serverKind{kindTlslpd, kindBaseline, kindNginx}, roundOrder(0, kindTlslpd, kindBaseline, kindNginx))
	assert.Equal(t, []serverKind{kindNginx, kindBaseline, kindTlslpd}, roundOrder(1, kindTlslpd, kindBaseline, kindNginx))
	assert.Equal(t, []serverKind{kindTlslpd, kindBaseline}, roundOrder(2, kindTlslpd, kindBaseline))
}

func TestRowArithmetic(t *testing.T) {
	s := SessionsRow{Completed: 100, Injected: 900, Errors: 5, Seconds: 10, CPUSeconds: 2}
	assert.Equal(t, uint64(1000), s.Sessions())
	assert.InDelta(t, 100, s.PerSecond(), 1e-9)
	assert.InDelta(t, 2.0, s.CPUPerSession(), 1e-9) // ms

	p := ParkRow{Parked: 1000, Before: Point{RSSBytes: 10 << 20}, During: Point{RSSBytes: 10<<20 + 8*1024*1000}}
	assert.InDelta(t, 8*1024, p.RSSPerSession(), 1e-9)
	assert.True(t, math.IsNaN(ParkRow{}.RSSPerSession()))

	h := HandshakeRow{OK: 500, Seconds: 2, CPUSeconds: 0.5}
	assert.InDelta(t, 250, h.PerSecond(), 1e-9)
	assert.InDelta(t, 1.0, h.CPUPerHandshake(), 1e-9)
}

// sample is a plausible report: tlslpd meets every goal.
func sample() *Report {
	return &Report{
		Date:     time.Date(2026, 11, 23, 1, 2, 3, 0, time.UTC),
		Machine:  Machine{CPU: "Test CPU", Cores: 2, Kernel: "6.1.0", Go: "go1.26.8"},
		Commands: []string{"bin/tlslpd bench suite --out BENCHMARKS.md", "bin/tlslpd --port $PORT"},
		Params:   Defaults(),
		Nginx:    "nginx/1.22.1, built with OpenSSL 3.0",
		Sessions: []SessionsRow{
			{Server: NameTlslpd, Workers: 128, Completed: 120, Injected: 1080, Seconds: 10, CPUSeconds: 6, RoundRates: []float64{110, 130}, RoundCPU: []float64{4, 6, 6}, MachineIdle: 30, MachineTotal: 1000},
			{Server: NameBaseline, Workers: 128, Completed: 100, Injected: 900, Seconds: 10, CPUSeconds: 8, RoundCPU: []float64{8, 8, 10}, MachineIdle: 20, MachineTotal: 1000},
			// The light load misses both goals; the targets must not use it.
			{Server: NameTlslpd, Workers: 32, Completed: 100, Injected: 900, Seconds: 10, CPUSeconds: 7.5, MachineIdle: 120, MachineTotal: 1000},
			{Server: NameBaseline, Workers: 32, Completed: 100, Injected: 900, Seconds: 10, CPUSeconds: 8, MachineIdle: 60, MachineTotal: 1000},
		},
		Park: []ParkRow{
			{Server: NameTlslpd, Requested: 5000, Parked: 5000, Before: Point{20 << 20, 17, 16}, During: Point{20<<20 + 5000*6*1024, 5017, 17}, After: Point{21 << 20, 17, 16}, Settled: true},
			{Server: NameBaseline, Requested: 5000, Parked: 5000, Before: Point{20 << 20, 11, 11}, During: Point{20<<20 + 5000*30*1024, 5011, 5011}, After: Point{90 << 20, 11, 11}, Settled: true},
		},
		PoW: &verify.Result{TokenLen: 64, SuffixLen: 16, VerifyOne: verify.Measurement{Goroutines: 1, PerSecond: 2e7}, SHA256One: verify.Measurement{Goroutines: 1, PerSecond: 1e7}, RatioOne: 2},
		Timers: []TimerResult{
			{Name: "timer wheel Arm+Cancel", NsPerOp: 10, OpsPerSec: 1e8},
			{Name: "runtime time.AfterFunc+Stop", NsPerOp: 200, OpsPerSec: 5e6, AllocsPerOp: 1},
		},
		Handshakes: []HandshakeRow{
			{Server: NameTlslpd, OK: 1000, Seconds: 1, CPUSeconds: 0.5},
			{Server: NameBaseline, OK: 1000, Seconds: 1, CPUSeconds: 0.6},
			{Server: NameNginx, OK: 500, Seconds: 1, CPUSeconds: 0.6},
		},
		Skipped: []string{"something: why"},
		Notes:   []string{"a note"},
	}
}

func statusOf(ts []Target) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[t.Name] = t.Status()
	}
	return m
}

func TestTargets(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Report)
		want   map[string]string
	}{
		{"all met", func(*Report) {}, map[string]string{
			"server CPU per session": "met", "sessions/s": "met", "RSS per parked session": "met",
			"RSS per parked session vs baseline": "met", "goroutines while parked": "met", "server CPU per session over plain TCP": "not measured",
		}},
		{"slower and hungrier", func(r *Report) {
			// Same rate as the baseline; 7.5 vs 8 ms per session is 0.94x.
			r.Sessions[0].Completed, r.Sessions[0].Injected, r.Sessions[0].CPUSeconds = 100, 900, 7.5
			// 14 KiB per session, and one goroutine per session.
			r.Park[0].During.RSSBytes += 5000 * 8 * 1024
			r.Park[0].During.Goroutines = 5016
		}, map[string]string{
			"server CPU per session": "not met", "sessions/s": "not met", "RSS per parked session": "not met",
			"RSS per parked session vs baseline": "not met", "goroutines while parked": "not met", "server CPU per session over plain TCP": "not measured",
		}},
		{"nothing measured", func(r *Report) { r.Sessions, r.Park = nil, nil }, map[string]string{
			"server CPU per session": "not measured", "sessions/s": "not measured", "RSS per parked session": "not measured",
			"RSS per parked session vs baseline": "not measured", "goroutines while parked": "not measured", "server CPU per session over plain TCP": "not measured",
		}},
		{"judged at the light load", func(r *Report) { r.Params.Workers = 32 }, map[string]string{
			"server CPU per session": "not met", "sessions/s": "not met", "RSS per parked session": "met",
			"RSS per parked session vs baseline": "met", "goroutines while parked": "met", "server CPU per session over plain TCP": "not measured",
		}},
		{"no row at the target load", func(r *Report) { r.Params.Workers = 64 }, map[string]string{
			"server CPU per session": "not measured", "sessions/s": "not measured", "RSS per parked session": "met",
			"RSS per parked session vs baseline": "met", "goroutines while parked": "met", "server CPU per session over plain TCP": "not measured",
		}},
		{"no baseline rows", func(r *Report) { r.Sessions, r.Park = r.Sessions[:1], r.Park[:1] }, map[string]string{
			"server CPU per session": "not measured", "sessions/s": "not measured", "RSS per parked session": "met",
			"RSS per parked session vs baseline": "not measured", "goroutines while parked": "met", "server CPU per session over plain TCP": "not measured",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sample()
			tc.change(r)
			assert.Equal(t, tc.want, statusOf(Targets(*r)))
		})
	}
}

func TestSpreadOfRoundRatios(t *testing.T) {
	tests := []struct {
		name       string
		xs, base   []float64
		wantSpread string
	}{
		{"odd count", []float64{4, 6, 6}, []float64{8, 8, 10}, "0.60x (0.50x–0.75x)"},
		{"even count takes the middle two", []float64{1, 2, 3, 4}, []float64{4, 4, 4, 4}, "0.62x (0.25x–1.00x)"},
		{"rounds missing on one side", []float64{1, 2, 3}, []float64{2}, "0.50x (0.50x–0.50x)"},
		{"zero baseline left out", []float64{1, 2}, []float64{0, 4}, "0.50x (0.50x–0.50x)"},
		{"nothing", nil, nil, "—"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.wantSpread, spread(pairRatios(tc.xs, tc.base)))
		})
	}
}

func TestTargetBoundaries(t *testing.T) {
	r := sample()
	// Exactly 0.8x CPU and 1.1x rate are met.
	r.Sessions[0] = SessionsRow{Server: NameTlslpd, Workers: 128, Completed: 1100, Seconds: 10, CPUSeconds: 1100 * 0.8 * 0.008}
	r.Sessions[1] = SessionsRow{Server: NameBaseline, Workers: 128, Completed: 1000, Seconds: 10, CPUSeconds: 8}
	got := statusOf(Targets(*r))
	assert.Equal(t, "met", got["server CPU per session"])
	assert.Equal(t, "met", got["sessions/s"])
}

func TestRender(t *testing.T) {
	md := Render(sample())
	for _, want := range []string{
		"# tlslpd benchmarks",
		"2026-11-23 01:02 UTC",
		"| CPU | Test CPU |",
		"loopback source addresses; the load generator checks each server's certificate chain once per run",
		"make bench\n# runs: go build -o bin/tlslpd . && bin/tlslpd bench suite --out BENCHMARKS.md",
		"| server CPU per session | tlslpd ≤ 0.8x baseline, 128 workers | 0.62x | **met** |",
		// Per round: 4/8, 6/8 and 6/10 give 0.50x, 0.75x and 0.60x.
		"| tlslpd | 128 | 1200 | 120 | 1080 | 0 | 120 | 1.20x | 5.000 | 0.62x | 0.60x (0.50x–0.75x) | 3% |",
		"| baseline | 128 | 1000 | 100 | 900 | 0 | 100 | 1.00x | 8.000 | 1.00x | — | 2% |",
		// Each load level is compared with the baseline at that level.
		"| tlslpd | 32 | 1000 | 100 | 900 | 0 | 100 | 1.00x | 7.500 | 0.94x | — | 12% |",
		"The targets are judged at 128 workers.",
		"The 32-worker rows are a lighter load",
		"| tlslpd | 5000 / 5000 | 20.0 | 49.3 | 21.0 | 6.0 | 0.20x | 16 / 17 / 16 | 17 / 5017 / 17 | 0 | yes |",
		"| 1 | 2e+07 | 1e+07 | 2.00x |",
		"| timer wheel Arm+Cancel | 10.0 | 1e+08 | 0 | 20.00x |",
		"| nginx stream | 500 | 0 | 500 | — | 0.50x | 1.200 | 2.00x |",
		"nginx/1.22.1, built with OpenSSL 3.0",
		"- skipped: something: why",
		"Context: server CPU of the bare mTLS handshake (section 5) against that of a whole session (section 1) — tlslpd 0.500 of 5.000 ms (10%); baseline 0.600 of 8.000 ms (8%).",
		"- a note",
	} {
		assert.Contains(t, md, want)
	}
	// Sections with no rows are left out rather than rendered empty.
	r := sample()
	r.Handshakes, r.PoW, r.Skipped, r.Notes = nil, nil, nil, nil
	md = Render(r)
	assert.NotContains(t, md, "## 5.")
	assert.NotContains(t, md, "## 3.")
	assert.NotContains(t, md, "Skipped")
	assert.NotContains(t, md, "Context:")
	require.Equal(t, 1, strings.Count(md, "## Targets"))
}

// Each handshake row is compared with the baseline in its own
// client-auth mode.
func TestHandshakeCellsCompareWithinMode(t *testing.T) {
	r := &Report{Handshakes: []HandshakeRow{
		{Server: NameTlslpd, OK: 1000, Seconds: 1, CPUSeconds: 0.5},
		{Server: NameBaseline, OK: 1000, Seconds: 1, CPUSeconds: 1.0},
		{Server: NameTlslpdAny, OK: 1000, Seconds: 1, CPUSeconds: 0.2},
		{Server: NameBaselineAny, OK: 500, Seconds: 1, CPUSeconds: 0.4},
	}}
	cells := handshakeCells(r)
	require.Len(t, cells, 4)
	cpuRatio := func(row []string) string { return row[len(row)-1] }
	rateRatio := func(row []string) string { return row[5] }
	assert.Equal(t, FormatRatio(0.5), cpuRatio(cells[0]), "tlslpd vs baseline")
	assert.Equal(t, FormatRatio(0.25), cpuRatio(cells[2]), "tlslpd any vs baseline any: 0.2 ms vs 0.8 ms")
	assert.Equal(t, FormatRatio(2), rateRatio(cells[2]))
	assert.Equal(t, FormatRatio(1), cpuRatio(cells[3]))
}

// The report's prose counts rounds in words that agree with the number.
func TestRoundsInProse(t *testing.T) {
	for n, want := range map[int]string{1: "1 round", 2: "2 rounds", 12: "12 rounds"} {
		assert.Equal(t, want, rounds(n))
	}
}
