package suite

import (
	"fmt"
	"math"
	"time"

	"tlslpd/bench/verify"
)

// Machine describes where the figures were taken.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

// SessionsRow is one server at one load level of the closed-model
// sessions test.
type SessionsRow struct {
	Server     string  `json:"server"`
	Workers    int     `json:"workers"`
	Completed  uint64  `json:"completed"`
	Injected   uint64  `json:"injected_fail"`
	Errors     uint64  `json:"errors"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"server_cpu_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	ErrSample  string  `json:"error_sample,omitempty"`
	// RoundRates and RoundCPU are each round's sessions/s and server CPU
	// ms/session, to show the spread.
	RoundRates []float64 `json:"round_rates"`
	RoundCPU   []float64 `json:"round_cpu_ms"`
	// Machine CPU ticks over the measured windows: how much of the machine
	// stayed idle, i.e. whether the load saturated it.
	MachineIdle  uint64 `json:"machine_idle_ticks"`
	MachineTotal uint64 `json:"machine_total_ticks"`
}

// add folds another round in: counts and times add up; latency keeps the
// worst round, since percentiles of separate runs do not add.
func (r *SessionsRow) add(o SessionsRow) {
	r.Completed += o.Completed
	r.Injected += o.Injected
	r.Errors += o.Errors
	r.Seconds += o.Seconds
	r.CPUSeconds += o.CPUSeconds
	r.P50ms = max(r.P50ms, o.P50ms)
	r.P99ms = max(r.P99ms, o.P99ms)
	if r.ErrSample == "" {
		r.ErrSample = o.ErrSample
	}
	r.RoundRates = append(r.RoundRates, o.PerSecond())
	r.RoundCPU = append(r.RoundCPU, o.CPUPerSession())
	r.MachineIdle += o.MachineIdle
	r.MachineTotal += o.MachineTotal
}

// IdleShare is the fraction of the machine's CPU time left idle while the
// row was measured.
func (r SessionsRow) IdleShare() float64 {
	return div(float64(r.MachineIdle), float64(r.MachineTotal))
}

// Sessions counts completed and injected-FAIL sessions: both servers run
// the same injection rule, so these are the sessions the protocol ended
// normally.
func (r SessionsRow) Sessions() uint64 { return r.Completed + r.Injected }

// PerSecond is sessions per second of the measured window.
func (r SessionsRow) PerSecond() float64 { return div(float64(r.Sessions()), r.Seconds) }

// CPUPerSession is server CPU milliseconds per session.
func (r SessionsRow) CPUPerSession() float64 {
	return div(1000*r.CPUSeconds, float64(r.Sessions()))
}

// Point is a process reading at one moment of the park test.
type Point struct {
	RSSBytes   int64 `json:"rss_bytes"`
	FDs        int   `json:"fds"`
	Goroutines int   `json:"goroutines"`
}

// ParkRow is one server in the park test.
type ParkRow struct {
	Server      string  `json:"server"`
	Requested   int     `json:"requested"`
	Parked      int     `json:"parked"`
	Dropped     int     `json:"dropped"`
	Failed      uint64  `json:"failed_to_park"`
	OpenSeconds float64 `json:"open_s"`
	Before      Point   `json:"before"`
	During      Point   `json:"during"`
	After       Point   `json:"after"`
	// Settled: fds and goroutines were back to the idle values when After
	// was read (within the settle timeout).
	Settled bool `json:"settled"`
}

// RSSPerSession is the RSS growth per parked session in bytes.
func (r ParkRow) RSSPerSession() float64 {
	return div(float64(r.During.RSSBytes-r.Before.RSSBytes), float64(r.Parked))
}

// HandshakeRow is one server in the handshake-only test.
type HandshakeRow struct {
	Server     string    `json:"server"`
	OK         uint64    `json:"handshakes"`
	Errors     uint64    `json:"errors"`
	Seconds    float64   `json:"seconds"`
	CPUSeconds float64   `json:"server_cpu_s"`
	ErrSample  string    `json:"error_sample,omitempty"`
	RoundRates []float64 `json:"round_rates"`
}

func (r *HandshakeRow) add(o HandshakeRow) {
	r.OK += o.OK
	r.Errors += o.Errors
	r.Seconds += o.Seconds
	r.CPUSeconds += o.CPUSeconds
	if r.ErrSample == "" {
		r.ErrSample = o.ErrSample
	}
	r.RoundRates = append(r.RoundRates, o.PerSecond())
}

// PerSecond is handshakes per second.
func (r HandshakeRow) PerSecond() float64 { return div(float64(r.OK), r.Seconds) }

// CPUPerHandshake is server CPU milliseconds per handshake.
func (r HandshakeRow) CPUPerHandshake() float64 { return div(1000*r.CPUSeconds, float64(r.OK)) }

// Report is everything one suite run measured.
type Report struct {
	Date     time.Time `json:"date"`
	Machine  Machine   `json:"machine"`
	Commands []string  `json:"commands"`
	Params   Params    `json:"params"`
	// Nginx is the nginx version the handshake test ran, if any.
	Nginx string `json:"nginx,omitempty"`

	Sessions   []SessionsRow  `json:"sessions,omitempty"`
	Park       []ParkRow      `json:"park,omitempty"`
	PoW        *verify.Result `json:"pow,omitempty"`
	Timers     []TimerResult  `json:"timers,omitempty"`
	Handshakes []HandshakeRow `json:"handshakes,omitempty"`
	// Transports are tlslpd and the baseline over plain TCP and mTLS
	// (transports.go).
	Transports []TransportsRow `json:"transports,omitempty"`
	// Cores are the sessions test again with the servers pinned to 1..6
	// CPUs (cores.go); empty where nothing could be pinned.
	Cores []CoresRow `json:"cores,omitempty"`
	// Skipped says which measurements did not run and why.
	Skipped []string `json:"skipped,omitempty"`
	// Notes are remarks made while measuring (limits hit, errors seen).
	Notes []string `json:"notes,omitempty"`
}

// Server names used in the rows; the baseline is what ratios divide by.
const (
	NameTlslpd   = "tlslpd"
	NameBaseline = "baseline"
	NameNginx    = "nginx stream"
	// NameTlslpdQuiet is tlslpd with --log-level WARNING (information only).
	NameTlslpdQuiet = "tlslpd, --log-level WARNING"
	// The handshake section's rows in --client-auth any mode (transient
	// self-signed client certificates), each beside the other's mode.
	NameTlslpdAny   = "tlslpd, --client-auth any"
	NameBaselineAny = "baseline, any client certificate"
)

func div(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// Ratio is a/b, NaN when either is missing.
func Ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}

// FormatRatio prints a ratio as "0.42x", or "n/a".
func FormatRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", r)
}

// Target is one published goal and whether this run met it.
type Target struct {
	Name string
	Want string
	Got  string
	// Met is meaningful only when Known.
	Met   bool
	Known bool
}

// Status is "met", "not met" or "not measured".
func (t Target) Status() string {
	switch {
	case !t.Known:
		return "not measured"
	case t.Met:
		return "met"
	}
	return "not met"
}

func findSessions(rows []SessionsRow, name string, workers int) (SessionsRow, bool) {
	for _, r := range rows {
		if r.Server == name && r.Workers == workers {
			return r, true
		}
	}
	return SessionsRow{}, false
}

func findPark(rows []ParkRow, name string) (ParkRow, bool) {
	for _, r := range rows {
		if r.Server == name {
			return r, true
		}
	}
	return ParkRow{}, false
}

// Targets evaluates the goals against the report.
func Targets(r Report) []Target {
	var ts []Target
	at := fmt.Sprintf(", %d workers", r.Params.Workers)
	cpu := Target{Name: "server CPU per session", Want: "tlslpd ≤ 0.8x baseline" + at}
	rate := Target{Name: "sessions/s", Want: "tlslpd ≥ 1.1x baseline" + at}
	if t, ok := findSessions(r.Sessions, NameTlslpd, r.Params.Workers); ok {
		if b, ok := findSessions(r.Sessions, NameBaseline, r.Params.Workers); ok {
			if x := Ratio(t.CPUPerSession(), b.CPUPerSession()); !math.IsNaN(x) {
				cpu.Known, cpu.Met, cpu.Got = true, x <= 0.8, FormatRatio(x)
			}
			if x := Ratio(t.PerSecond(), b.PerSecond()); !math.IsNaN(x) {
				rate.Known, rate.Met, rate.Got = true, x >= 1.1, FormatRatio(x)
			}
		}
	}
	ts = append(ts, cpu, rate)

	plain := Target{Name: "server CPU per session over plain TCP", Want: fmt.Sprintf("tlslpd ≤ 0.5x baseline, %d workers", r.Params.TransportWorkers)}
	if t, ok := findTransport(r.Transports, NameTlslpd, TransportTCP); ok {
		if b, ok := findTransport(r.Transports, NameBaseline, TransportTCP); ok {
			if x := Ratio(t.CPUMicros(), b.CPUMicros()); !math.IsNaN(x) {
				plain.Known, plain.Met, plain.Got = true, x <= 0.5, FormatRatio(x)
			}
		}
	}
	ts = append(ts, plain)

	abs := Target{Name: "RSS per parked session", Want: "tlslpd ≤ 10 KiB"}
	rel := Target{Name: "RSS per parked session vs baseline", Want: "tlslpd ≤ 0.3x baseline"}
	gor := Target{Name: "goroutines while parked", Want: "tlslpd: no growth with sessions"}
	if t, ok := findPark(r.Park, NameTlslpd); ok && t.Parked > 0 {
		per := t.RSSPerSession()
		abs.Known, abs.Met, abs.Got = true, per <= 10*1024, fmt.Sprintf("%.1f KiB", per/1024)
		// "No growth" allows a handful of transient goroutines (a metrics
		// scrape, a handshake finishing) but nothing proportional to the
		// sessions: under 1% of them.
		grow := t.During.Goroutines - t.Before.Goroutines
		gor.Known, gor.Met = true, grow <= max(8, t.Parked/100)
		gor.Got = fmt.Sprintf("%+d for %d sessions", grow, t.Parked)
		if b, ok := findPark(r.Park, NameBaseline); ok && b.Parked > 0 {
			if x := Ratio(per, b.RSSPerSession()); !math.IsNaN(x) && x >= 0 {
				rel.Known, rel.Met, rel.Got = true, x <= 0.3, FormatRatio(x)
			}
		}
	}
	ts = append(ts, abs, rel, gor)
	return ts
}
