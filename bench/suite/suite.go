package suite

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"tlslpd/certs"
)

// Params are the knobs of a run; Defaults keeps `make bench` under ten
// minutes on two cores.
type Params struct {
	NBits     int    `json:"n_bits"`
	Token     string `json:"token"`
	SourceIPs int    `json:"source_ips"`

	// Workers is the closed-model load the targets are judged at: enough
	// sessions in flight to keep the machine busy, so sessions/s measures
	// capacity rather than round-trip latency. LightWorkers is a lighter
	// load shown beside it (0 skips it).
	Workers      int           `json:"workers"`
	LightWorkers int           `json:"light_workers"`
	Warmup       time.Duration `json:"warmup_ns"`
	Duration     time.Duration `json:"duration_ns"`

	Park            int           `json:"park"`
	Hold            time.Duration `json:"hold_ns"`
	ParkWorkTimeout int           `json:"park_work_timeout_s"`
	// Settle bounds the wait for fds and goroutines to return to idle.
	Settle time.Duration `json:"settle_ns"`

	HandshakeWorkers  int           `json:"handshake_workers"`
	HandshakeDuration time.Duration `json:"handshake_duration_ns"`

	// SessionRounds are the turns of the sessions test: each gives every
	// server one Duration window. Rounds are the handshake test's, each on
	// fresh servers. Figures add up all rounds, servers alternating which
	// goes first.
	SessionRounds int `json:"session_rounds"`
	Rounds        int `json:"rounds"`

	// TransportWorkers and TransportRounds are the transports section's
	// closed-model load and its turns (each a Duration window per server).
	TransportWorkers int `json:"transport_workers"`
	TransportRounds  int `json:"transport_rounds"`

	// CoreRounds are the turns per core count in the cores section.
	CoreRounds int `json:"core_rounds"`

	PoWDuration time.Duration `json:"pow_duration_ns"`
	PoWRounds   int           `json:"pow_rounds"`
	TimerRounds int           `json:"timer_rounds"`
}

// DefaultToken is the fixed WORK token every server gets, so PoW work per
// session is the same for all of them.
const DefaultToken = "tlslpdBenchmarkToken0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH"

// Defaults are the published run's parameters.
func Defaults() Params {
	return Params{
		NBits: 4, Token: DefaultToken, SourceIPs: 8,
		Workers: 128, LightWorkers: 32, Warmup: 2 * time.Second, Duration: 4 * time.Second, SessionRounds: 12,
		Park: 5000, Hold: 6 * time.Second, ParkWorkTimeout: 3600, Settle: 20 * time.Second,
		HandshakeWorkers: 32, HandshakeDuration: 8 * time.Second, Rounds: 5,
		PoWDuration: time.Second, PoWRounds: 3, TimerRounds: 3, CoreRounds: 3,
		TransportWorkers: 128, TransportRounds: 4,
	}
}

// Sections of the suite, in run order.
var sectionNames = []string{"sessions", "park", "pow", "timers", "handshake", "transports", "cores"}

// Options say what to run and where the programs are.
type Options struct {
	Params
	// Bin is the tlslpd binary; it also serves the baseline
	// (`tlslpd bench baseline`).
	Bin string
	// Nginx is what the handshake test runs; an empty Bin skips the nginx
	// row.
	Nginx    NginxInfo
	Sections map[string]bool
	// Log gets progress lines.
	Log io.Writer
	// NoPin keeps the servers and the load generator on the same CPUs even
	// where there are enough to split (pin.go).
	NoPin bool
}

// runner holds what every measurement shares.
type runner struct {
	opt    Options
	dir    string // temp dir: certificates, configs, server logs
	files  certs.Files
	client *tls.Config
	proc   ProcReader
	scrape *http.Client
	report *Report
	logMu  sync.Mutex
	cpus   cpuPlan // which CPUs servers and load generator use
}

func (r *runner) logf(format string, args ...any) {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.opt.Log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (r *runner) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.report.Notes = append(r.report.Notes, msg)
	r.logf("note: %s", msg)
}

// Run executes the selected sections and returns the report. A section
// that fails is recorded as skipped with its error, so one broken server
// does not cost the rest of the figures; ctx cancellation stops the run.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	dir, err := os.MkdirTemp("", "tlslpd-bench-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	pki, err := certs.New(certs.Options{})
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	files, err := pki.Write(filepath.Join(dir, "certs"), false)
	if err != nil {
		return nil, fmt.Errorf("write certificates: %w", err)
	}
	client, err := pki.ClientConfig("127.0.0.1")
	if err != nil {
		return nil, err
	}
	r := &runner{
		opt:    opt,
		dir:    dir,
		files:  files,
		client: client,
		proc:   NewProcReader(),
		scrape: newScrapeClient(),
		report: &Report{Date: time.Now().UTC(), Machine: machineInfo(), Params: opt.Params, Nginx: opt.Nginx.Version},
	}
	r.setupPinning()
	for _, s := range sectionNames {
		if !opt.Sections[s] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return r.report, fmt.Errorf("interrupted before %s: %w", s, err)
		}
		r.logf("== %s", s)
		var err error
		switch s {
		case "sessions":
			err = r.sessions(ctx)
		case "park":
			err = r.park(ctx)
		case "pow":
			err = r.pow(ctx)
		case "timers":
			err = r.timers()
		case "handshake":
			err = r.handshakes(ctx)
		case "transports":
			err = r.transports(ctx)
		case "cores":
			err = r.cores(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return r.report, fmt.Errorf("%s: %w", s, err)
			}
			r.report.Skipped = append(r.report.Skipped, fmt.Sprintf("%s: failed: %v", s, err))
			r.logf("%s failed: %v", s, err)
		}
	}
	return r.report, nil
}
