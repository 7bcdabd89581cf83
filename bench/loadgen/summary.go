package loadgen

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// SchemaVersion of the JSON Summary; bumped on any incompatible change.
const SchemaVersion = 1

// Counts are the session outcomes. Every finished session is in exactly one.
type Counts struct {
	Completed uint64 `json:"completed"`
	// ServerFail: FAIL lines other than random injections (bad suffix,
	// bad checksum, receiving, timeouts, shutdown...); by line in FailLines.
	ServerFail uint64 `json:"server_fail"`
	// InjectedFail: the server's random "FAIL <random_string>" in the body.
	InjectedFail uint64 `json:"injected_fail"`
	TLSErrors    uint64 `json:"tls_errors"`
	Timeouts     uint64 `json:"timeouts"`
	// ConnectErrors: TCP connect failed (refused, no ports, ...).
	ConnectErrors uint64 `json:"connect_errors"`
	// ProtocolErrors: the server closed early or sent something invalid.
	ProtocolErrors uint64 `json:"protocol_errors"`
	// Aborted: cut short because the run was interrupted.
	Aborted uint64 `json:"aborted"`
}

// Total is the number of finished sessions.
func (c Counts) Total() uint64 {
	return c.Completed + c.ServerFail + c.InjectedFail + c.TLSErrors + c.Timeouts + c.ConnectErrors + c.ProtocolErrors + c.Aborted
}

// Latency summarises completed sessions' latency in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// SpectrumPoint is one point of the latency percentile spectrum.
type SpectrumPoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// Second is the outcome count of sessions that finished in one second of
// the run (second 0 is the first).
type Second struct {
	Second    int    `json:"second"`
	Completed uint64 `json:"completed"`
	// Injected sessions ended on the server's injected FAIL <random_string>:
	// a normal protocol outcome, kept apart from failures.
	Injected uint64 `json:"injected_fail"`
	Failed   uint64 `json:"failed"`
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

// Summary is the result of a run and the stable `--json` document
// (schema_version 1). Latencies are in milliseconds, durations in seconds.
// Latency covers completed sessions only; in the open model it runs from
// the session's intended start, in the closed model from its actual start.
type Summary struct {
	SchemaVersion int    `json:"schema_version"`
	Mode          string `json:"mode"` // "closed", "open" or "park"
	Target        string `json:"target"`
	// Concurrency: workers (closed), in-flight cap (open), sessions (park),
	// after any RLIMIT_NOFILE cap; RequestedConcurrency before it.
	Concurrency          int     `json:"concurrency"`
	RequestedConcurrency int     `json:"requested_concurrency"`
	Capped               bool    `json:"capped"`
	Rate                 float64 `json:"rate,omitempty"`
	NBits                int     `json:"n_bits"`
	Resumption           bool    `json:"resumption"`
	Resumed              uint64  `json:"resumed"`
	SourceIPs            int     `json:"source_ips"`
	DurationSeconds      float64 `json:"duration_s"`
	// Sessions is the number of finished sessions, SessionsPerSecond their
	// rate; CompletedPerSecond counts completed ones only.
	Sessions           uint64            `json:"sessions"`
	SessionsPerSecond  float64           `json:"sessions_per_s"`
	CompletedPerSecond float64           `json:"completed_per_s"`
	Counts             Counts            `json:"counts"`
	FailLines          map[string]uint64 `json:"fail_lines"`
	// ErrorSamples holds one message per non-FAIL error class seen.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Latency      Latency           `json:"latency"`
	Spectrum     []SpectrumPoint   `json:"spectrum"`
	PerSecond    []Second          `json:"per_second"`
	Park         *Park             `json:"park,omitempty"`
}

// WriteText prints the human summary.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "target %s, mode %s, concurrency %d", s.Target, s.Mode, s.Concurrency)
	if s.Capped {
		fmt.Fprintf(&b, " (requested %d, capped by RLIMIT_NOFILE)", s.RequestedConcurrency)
	}
	if s.Mode == "open" {
		fmt.Fprintf(&b, ", rate %.1f/s", s.Rate)
	}
	fmt.Fprintf(&b, ", n_bits %d, resumption %v", s.NBits, s.Resumption)
	if s.Resumption {
		fmt.Fprintf(&b, " (%d resumed)", s.Resumed)
	}
	fmt.Fprintf(&b, "\n")
	if s.Park != nil {
		fmt.Fprintf(&b, "parked %d of %d sessions in %.2fs, held %.2fs, %d dropped by the server during the hold\n",
			s.Park.Parked, s.Park.Requested, s.Park.OpenSeconds, s.Park.HoldSeconds, s.Park.Dropped)
	}
	c := s.Counts
	if s.Park != nil {
		fmt.Fprintf(&b, "failures to park: ")
	} else {
		fmt.Fprintf(&b, "sessions %d in %.2fs: %.1f sessions/s, %.1f completed/s\n",
			s.Sessions, s.DurationSeconds, s.SessionsPerSecond, s.CompletedPerSecond)
		fmt.Fprintf(&b, "outcomes: ")
	}
	fmt.Fprintf(&b, "completed %d, server FAIL %d, injected FAIL %d, TLS errors %d, timeouts %d, connect errors %d, protocol errors %d, aborted %d\n",
		c.Completed, c.ServerFail, c.InjectedFail, c.TLSErrors, c.Timeouts, c.ConnectErrors, c.ProtocolErrors, c.Aborted)
	lines := make([]string, 0, len(s.FailLines))
	for l := range s.FailLines {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintf(&b, "  %8d  %s\n", s.FailLines[l], l)
	}
	classes := make([]string, 0, len(s.ErrorSamples))
	for k := range s.ErrorSamples {
		classes = append(classes, k)
	}
	sort.Strings(classes)
	for _, k := range classes {
		fmt.Fprintf(&b, "  e.g. %s: %s\n", k, s.ErrorSamples[k])
	}
	if s.Latency.Count > 0 {
		l := s.Latency
		fmt.Fprintf(&b, "latency (completed, ms): p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s, min %s)\n",
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean), ms(l.Min))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ms(v float64) string {
	return fmt.Sprintf("%.3g", v)
}

func seconds(d time.Duration) float64 { return d.Seconds() }
