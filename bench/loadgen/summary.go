package loadgen

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// SchemaVersion of the JSON Summary; bumped on any incompatible change.
const SchemaVersion = 2

// Latency summarises a latency distribution in milliseconds (exact
// histogram values; the text rounds them to three significant digits).
type Latency struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`

	hist *hdrhistogram.Histogram // for other percentiles (thresholds)
}

func (l Latency) quantile(p float64) float64 {
	if l.hist != nil {
		return usToMs(l.hist.ValueAtQuantile(p))
	}
	switch {
	case p <= 50:
		return l.P50
	case p <= 90:
		return l.P90
	case p <= 99:
		return l.P99
	case p <= 99.9:
		return l.P999
	}
	return l.Max
}

// PhaseLatency is the latency of one phase over every session that got
// through it.
type PhaseLatency struct {
	Phase   string  `json:"phase"`
	Title   string  `json:"title"`
	Latency Latency `json:"latency"`
}

// SpectrumPoint is one point of the latency percentile spectrum.
type SpectrumPoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// IntervalSummary is one interval of the run: sessions started and
// finished in it, and the latency percentiles of those completed in it.
type IntervalSummary struct {
	StartMs      int64   `json:"start_ms"`
	Seconds      float64 `json:"covered_s"`
	Started      uint64  `json:"started"`
	Completed    uint64  `json:"completed"`
	Injected     uint64  `json:"injected_fail"`
	Failed       uint64  `json:"errors"`
	Unfinished   uint64  `json:"unfinished"`
	PeakInflight int64   `json:"peak_inflight"`
	P50          float64 `json:"p50_ms,omitempty"`
	P90          float64 `json:"p90_ms,omitempty"`
	P99          float64 `json:"p99_ms,omitempty"`
	// SolveHashesPerSecond is the hash rate one session's solver reached.
	SolveHashesPerSecond float64 `json:"solve_hashes_per_s,omitempty"`
}

// ErrorCount is how many sessions ended with one (normalized) error.
type ErrorCount struct {
	Outcome string `json:"outcome"`
	Message string `json:"message"`
	Count   uint64 `json:"count"`
}

// SolveStats is what solving WORK cost the load generator.
type SolveStats struct {
	Hashes                   uint64  `json:"hashes"`
	Seconds                  float64 `json:"seconds"`
	HashesPerSecondPerSolver float64 `json:"hashes_per_s_per_session"`
	// ShareOfSessionTime: solving's part of all sessions' time.
	ShareOfSessionTime float64 `json:"share_of_session_time"`
	// AvgSolving: how many sessions were solving at once on average (as
	// many as the generators' CPUs or more: solving is what limits them).
	AvgSolving float64 `json:"avg_solving_at_once"`
}

// Park describes a park-mode run.
type Park struct {
	Requested int `json:"requested"`
	Parked    int `json:"parked"`
	// Dropped: parked sessions the server closed before the hold ended.
	Dropped     int     `json:"dropped"`
	OpenSeconds float64 `json:"open_s"`
	HoldSeconds float64 `json:"hold_s"`
}

// Summary is the result of a run, or of several merged, and the stable
// `--json` document. Latencies are in milliseconds, durations in seconds.
// Latency covers completed sessions only; in the open model it runs from
// the session's intended start, in the closed model from its actual start.
type Summary struct {
	SchemaVersion int       `json:"schema_version"`
	Version       string    `json:"version"`
	Host          string    `json:"host"`
	StartTime     time.Time `json:"start_time"`
	// Generators lists each load generator's run (one for bench load).
	Generators []RunMeta `json:"generators"`
	Mode       string    `json:"mode"` // "closed", "open" or "park"
	Target     string    `json:"target"`
	Workers    int       `json:"workers,omitempty"`
	// Rate is the offered arrival rate (open model).
	Rate        float64 `json:"offered_rate,omitempty"`
	MaxInflight int     `json:"max_inflight,omitempty"`
	// Concurrency: workers (closed), in-flight cap (open), sessions (park),
	// after any RLIMIT_NOFILE cap; RequestedConcurrency before it.
	Concurrency          int     `json:"effective_concurrency"`
	RequestedConcurrency int     `json:"requested_concurrency"`
	Capped               bool    `json:"capped"`
	NBits                int     `json:"n_bits"` // as the server sent it; -1: no WORK seen
	Resumption           bool    `json:"resumption"`
	Plain                bool    `json:"plain,omitempty"`
	Resumed              uint64  `json:"resumed"`
	SourceIPs            int     `json:"source_ips"`
	CPUs                 int     `json:"cpus"`
	DurationSeconds      float64 `json:"duration_s"`
	// LoadSeconds is how long new sessions were being started.
	LoadSeconds  float64 `json:"load_s"`
	GraceSeconds float64 `json:"grace_s,omitempty"`
	Incomplete   bool    `json:"incomplete,omitempty"`
	// Started sessions; Sessions accounted for (Counts.Total()).
	Started            uint64            `json:"started"`
	Sessions           uint64            `json:"sessions"`
	StartedPerSecond   float64           `json:"started_per_s"`
	SessionsPerSecond  float64           `json:"sessions_per_s"`
	CompletedPerSecond float64           `json:"completed_per_s"`
	Counts             Counts            `json:"counts"`
	UnfinishedAt       map[string]uint64 `json:"unfinished_at,omitempty"`
	FailLines          map[string]uint64 `json:"fail_lines"`
	Errors             []ErrorCount      `json:"errors"`
	Latency            Latency           `json:"latency"`
	Phases             []PhaseLatency    `json:"phases"`
	Spectrum           []SpectrumPoint   `json:"spectrum"`
	Intervals          []IntervalSummary `json:"intervals"`
	Solve              *SolveStats       `json:"solve,omitempty"`
	PeakInflight       int64             `json:"peak_inflight"`
	Warnings           []string          `json:"warnings"`
	Thresholds         []ThresholdResult `json:"thresholds,omitempty"`
	Park               *Park             `json:"park,omitempty"`

	mixed bool // generators of different models were merged
}

// Mixed reports whether runs of different models were merged (so the
// offered rate is that of the open-model generators only).
func (s *Summary) Mixed() bool { return s.mixed }

// outcomeRows are the outcome table's rows, in the order people read them.
func (s *Summary) outcomeRows() []struct {
	Name string
	N    uint64
	Note string
} {
	c := s.Counts
	type row = struct {
		Name string
		N    uint64
		Note string
	}
	return []row{
		{"completed", c.Completed, "reached DONE and sent OK"},
		{"injected FAIL", c.InjectedFail, "the server's random FAIL <random_string>: a normal protocol outcome"},
		{"server FAIL", c.ServerFail, "any other FAIL line from the server"},
		{"TLS error", c.TLSErrors, "the TLS handshake failed or was cut (a server refusing or shedding connections closes them here)"},
		{"timeout", c.Timeouts, "a step took longer than this generator's --other-timeout or --work-timeout"},
		{"connect error", c.ConnectErrors, "the TCP connection could not be made (refused, unreachable, dial timeout)"},
		{"protocol error", c.ProtocolErrors, "the server closed early or sent something unexpected"},
		{"unfinished", c.Unfinished, "still running when the run ended"},
	}
}

// WriteText prints the human summary. Every number in it is one of the
// JSON document's, rounded for reading.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	gens := ""
	if n := len(s.Generators); n > 1 {
		gens = fmt.Sprintf(" (%d load generators merged)", n)
	}
	model := " model"
	if s.Mode == "park" {
		model = " mode"
	}
	fmt.Fprintf(&b, "target %s, %s%s%s", s.Target, s.Mode, model, gens)
	switch {
	case s.mixed:
		fmt.Fprintf(&b, ", %d workers and %s offered by the open-model generators", s.Workers, humanRate(s.Rate))
	case s.Park != nil:
		fmt.Fprintf(&b, ", park %d", s.RequestedConcurrency)
	case s.Rate > 0:
		fmt.Fprintf(&b, ", offered rate %s, max in flight %d", humanRate(s.Rate), s.MaxInflight)
	default:
		fmt.Fprintf(&b, ", %d workers", s.Workers)
	}
	if s.Capped {
		fmt.Fprintf(&b, " (capped to %d by RLIMIT_NOFILE)", s.Concurrency)
	}
	if s.NBits >= 0 {
		fmt.Fprintf(&b, ", n_bits %d (as the server sent it)", s.NBits)
	} else {
		fmt.Fprintf(&b, ", n_bits unknown (no WORK received)")
	}
	if s.Plain {
		fmt.Fprintf(&b, ", plain TCP (no TLS)")
	} else {
		fmt.Fprintf(&b, ", resumption %v", s.Resumption)
	}
	if s.Resumption {
		fmt.Fprintf(&b, " (%d resumed)", s.Resumed)
	}
	fmt.Fprintf(&b, "\nstarted %s, ran %ss (sessions started for %ss), peak %d in flight\n",
		s.StartTime.UTC().Format(time.RFC3339), sig3(s.DurationSeconds), sig3(s.LoadSeconds), s.PeakInflight)
	if s.Park != nil {
		fmt.Fprintf(&b, "parked %d of %d sessions in %ss, held %ss, %d dropped by the server during the hold\n",
			s.Park.Parked, s.Park.Requested, sig3(s.Park.OpenSeconds), sig3(s.Park.HoldSeconds), s.Park.Dropped)
	} else {
		fmt.Fprintf(&b, "sessions: %d started (%s", s.Started, humanRate(s.StartedPerSecond))
		if s.Rate > 0 && !s.mixed {
			fmt.Fprintf(&b, " of %s offered", humanRate(s.Rate))
		}
		fmt.Fprintf(&b, "), %d completed (%s)\n", s.Counts.Completed, humanRate(s.CompletedPerSecond))
	}
	total := s.Counts.Total()
	if s.Park == nil || total > 0 {
		what := "outcomes of %d sessions:\n"
		if s.Park != nil {
			what = "%d sessions failed to park:\n"
		}
		fmt.Fprintf(&b, what, total)
		for _, r := range s.outcomeRows() {
			if r.N == 0 && (r.Name != "completed" || s.Park != nil) {
				continue
			}
			fmt.Fprintf(&b, "  %-15s %8d  %6s\n", r.Name, r.N, percent(r.N, total))
		}
	}
	if len(s.FailLines) > 0 {
		fmt.Fprintf(&b, "FAIL lines from the server:\n")
		lines := make([]string, 0, len(s.FailLines))
		for l := range s.FailLines {
			lines = append(lines, l)
		}
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Fprintf(&b, "  %8d  %s\n", s.FailLines[l], l)
		}
	}
	if len(s.Errors) > 0 {
		fmt.Fprintf(&b, "errors by message:\n")
		for _, e := range s.Errors {
			fmt.Fprintf(&b, "  %8d  %s: %s\n", e.Count, e.Outcome, e.Message)
		}
	}
	if l := s.Latency; l.Count > 0 {
		fmt.Fprintf(&b, "latency of %d completed sessions: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s, min %s)\n",
			l.Count, HumanMs(l.P50), HumanMs(l.P90), HumanMs(l.P99), HumanMs(l.P999), HumanMs(l.Max), HumanMs(l.Mean), HumanMs(l.Min))
	}
	if len(s.Phases) > 0 {
		fmt.Fprintf(&b, "phases (every session that got through each):\n  %-32s %8s %8s %8s %8s %8s\n", "phase", "count", "p50", "p90", "p99", "max")
		for _, p := range s.Phases {
			l := p.Latency
			fmt.Fprintf(&b, "  %-32s %8d %8s %8s %8s %8s\n", p.Title, l.Count, HumanMs(l.P50), HumanMs(l.P90), HumanMs(l.P99), HumanMs(l.Max))
		}
	}
	if sv := s.Solve; sv != nil {
		fmt.Fprintf(&b, "WORK solving here: %s hashes/s per session, %s of session time, %s sessions solving at once on average (%d CPUs)\n",
			humanCount(sv.HashesPerSecondPerSolver), percentF(sv.ShareOfSessionTime), sig3(sv.AvgSolving), s.CPUs)
	}
	for _, wn := range s.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", wn)
	}
	for _, t := range s.Thresholds {
		verdict := "ok"
		if !t.OK {
			verdict = "VIOLATED"
		}
		fmt.Fprintf(&b, "threshold %s: %s (%s)\n", t.Threshold, verdict, t.Detail)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
