package suite

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"tlslpd/bench/loadgen"
	"tlslpd/bench/verify"
	"tlslpd/certs"
	"tlslpd/protocol"
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
		PoWDuration: time.Second, PoWRounds: 3, TimerRounds: 3,
	}
}

// Sections of the suite, in run order.
var sectionNames = []string{"sessions", "park", "pow", "timers", "handshake"}

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

// server is one server under test, started fresh for each measurement so
// every idle reading starts from a new process.
type server struct {
	name        string
	c           *child
	port        int
	metricsAddr string // empty: no /metrics (nginx)
	tree        bool   // sum CPU over the process and its children
}

type serverKind int

const (
	kindTlslpd serverKind = iota
	kindBaseline
	kindNginx
	// kindTlslpdQuiet is tlslpd without its per-session INFO log line, to
	// show what that line costs; targets never use it.
	kindTlslpdQuiet
)

func (k serverKind) String() string {
	return [...]string{NameTlslpd, NameBaseline, NameNginx, NameTlslpdQuiet}[k]
}

// start launches a server of kind k; workTimeout is in seconds.
func (r *runner) start(ctx context.Context, k serverKind, workTimeout int) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{name: k.String(), port: port}
	var argv []string
	switch k {
	case kindTlslpd, kindBaseline, kindTlslpdQuiet:
		mport, err := freePort()
		if err != nil {
			return nil, err
		}
		s.metricsAddr = "127.0.0.1:" + strconv.Itoa(mport)
		argv = []string{r.opt.Bin}
		if k == kindBaseline {
			argv = append(argv, "bench", "baseline", "--inject", "reference")
		}
		argv = append(argv,
			"--host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--server-cert", r.files.ServerCert, "--server-key", r.files.ServerKey, "--ca-cert", r.files.CACert,
			"--n_bits", strconv.Itoa(r.opt.NBits), "--token", r.opt.Token,
			"--work-timeout", strconv.Itoa(workTimeout),
			"--metrics-addr", s.metricsAddr)
		if k == kindTlslpdQuiet {
			argv = append(argv, "--log-level", "WARNING")
		}
	case kindNginx:
		s.tree = true
		conf, err := r.writeNginxConf(port)
		if err != nil {
			return nil, err
		}
		argv = []string{r.opt.Nginx.Bin, "-e", filepath.Join(filepath.Dir(conf), "error.log"),
			"-p", filepath.Dir(conf), "-c", conf, "-g", "daemon off;"}
	}
	r.recordCommand(argv)
	s.c, err = startChild(s.name, argv, r.dir)
	if err != nil {
		return nil, err
	}
	addrs := []string{"127.0.0.1:" + strconv.Itoa(port)}
	if s.metricsAddr != "" {
		addrs = append(addrs, s.metricsAddr)
	}
	if err := s.c.waitListening(ctx, 15*time.Second, addrs...); err != nil {
		s.c.stop(5 * time.Second)
		return nil, err
	}
	return s, nil
}

func (s *server) stop() { s.c.stop(5 * time.Second) }

// recordCommand keeps each distinct server command line for BENCHMARKS.md,
// with the temp dir and the per-run ports replaced by placeholders.
func (r *runner) recordCommand(argv []string) {
	parts := make([]string, len(argv))
	for i, a := range argv {
		a = strings.ReplaceAll(a, r.dir, "$TMP")
		if a == r.opt.Bin {
			a = "bin/tlslpd"
		}
		if i > 0 && (argv[i-1] == "--port") {
			a = "$PORT"
		}
		if i > 0 && argv[i-1] == "--metrics-addr" {
			a = "127.0.0.1:$METRICS_PORT"
		}
		if strings.ContainsAny(a, " ;") {
			a = "'" + a + "'"
		}
		parts[i] = a
	}
	line := strings.Join(parts, " ")
	for _, c := range r.report.Commands {
		if c == line {
			return
		}
	}
	r.report.Commands = append(r.report.Commands, line)
}

func (r *runner) sample(s *server) (ProcSample, error) {
	if s.tree {
		return r.proc.SampleTree(s.c.pid())
	}
	return r.proc.Sample(s.c.pid())
}

func (r *runner) point(ctx context.Context, s *server) (Point, error) {
	ps, err := r.sample(s)
	if err != nil {
		return Point{}, err
	}
	p := Point{RSSBytes: ps.RSSBytes, FDs: ps.FDs, Goroutines: -1}
	if s.metricsAddr != "" {
		g, err := Goroutines(ctx, r.scrape, s.metricsAddr)
		if err != nil {
			return p, err
		}
		p.Goroutines = g
	}
	return p, nil
}

func (r *runner) loadConfig(s *server) loadgen.Config {
	return loadgen.Config{
		Host: "127.0.0.1", Port: s.port, TLS: r.client,
		SourceIPs: r.opt.SourceIPs,
		// The suite's own descriptors and the children's pipes are few;
		// loadgen's reserve covers them.
	}
}

// sessions: the closed model against tlslpd and the baseline, at the
// target load and at the light one. The servers run throughout and take
// turns: each round gives every server one short window of load, so a
// drift in the machine's speed lands on all of them rather than on
// whichever ran during it.
func (r *runner) sessions(ctx context.Context) error {
	type level struct {
		workers int
		kinds   []serverKind
	}
	levels := []level{{r.opt.Workers, []serverKind{kindTlslpd, kindBaseline, kindTlslpdQuiet}}}
	if r.opt.LightWorkers > 0 && r.opt.LightWorkers != r.opt.Workers {
		levels = append(levels, level{r.opt.LightWorkers, []serverKind{kindTlslpd, kindBaseline}})
	}
	servers := map[serverKind]*server{}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, k := range levels[0].kinds {
		s, err := r.start(ctx, k, 60)
		if err != nil {
			return fmt.Errorf("start %s: %w", k, err)
		}
		servers[k] = s
		cfg := r.loadConfig(s)
		cfg.Workers, cfg.Duration = r.opt.Workers, r.opt.Warmup
		if _, err := loadgen.Run(ctx, cfg); err != nil {
			return fmt.Errorf("%s warm-up: %w", k, err)
		}
	}
	type key struct {
		k       serverKind
		workers int
	}
	rows := map[key]*SessionsRow{}
	for round := range r.opt.SessionRounds {
		for _, l := range levels {
			for _, k := range roundOrder(round, l.kinds...) {
				row, err := r.sessionsWindow(ctx, servers[k], l.workers)
				if err != nil {
					return fmt.Errorf("%s, %d workers, round %d: %w", k, l.workers, round+1, err)
				}
				r.logf("round %d %s, %d workers: %d sessions (%d completed, %d injected, %d errors) in %.1fs = %.0f/s, server CPU %.2fs = %.3f ms/session, machine idle %.0f%%",
					round+1, row.Server, l.workers, row.Sessions(), row.Completed, row.Injected, row.Errors, row.Seconds, row.PerSecond(), row.CPUSeconds, row.CPUPerSession(), 100*row.IdleShare())
				acc := rows[key{k, l.workers}]
				if acc == nil {
					acc = &SessionsRow{Server: row.Server, Workers: row.Workers}
					rows[key{k, l.workers}] = acc
				}
				acc.add(row)
			}
		}
	}
	for _, l := range levels {
		for _, k := range l.kinds {
			r.report.Sessions = append(r.report.Sessions, *rows[key{k, l.workers}])
		}
	}
	return nil
}

// roundOrder alternates which server goes first, so a slow patch of
// machine time (other processes) does not always hit the same one.
func roundOrder(round int, kinds ...serverKind) []serverKind {
	out := append([]serverKind(nil), kinds...)
	if round%2 == 1 {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// sessionsWindow runs one window of the closed model against a running,
// warmed-up server.
func (r *runner) sessionsWindow(ctx context.Context, s *server, workers int) (SessionsRow, error) {
	cfg := r.loadConfig(s)
	cfg.Workers = workers
	before, err := r.sample(s)
	if err != nil {
		return SessionsRow{}, err
	}
	machineBefore, err := r.proc.Machine()
	if err != nil {
		return SessionsRow{}, err
	}
	cfg.Duration = r.opt.Duration
	sum, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return SessionsRow{}, fmt.Errorf("load: %w", err)
	}
	machineAfter, err := r.proc.Machine()
	if err != nil {
		return SessionsRow{}, err
	}
	after, err := r.sample(s)
	if err != nil {
		return SessionsRow{}, err
	}
	machine := machineAfter.Since(machineBefore)
	if ctx.Err() != nil {
		return SessionsRow{}, ctx.Err()
	}
	row := SessionsRow{
		Server:       s.name,
		Workers:      workers,
		MachineIdle:  machine.Idle,
		MachineTotal: machine.Total,
		Completed:    sum.Counts.Completed,
		Injected:     sum.Counts.InjectedFail,
		Seconds:      sum.DurationSeconds,
		CPUSeconds:   after.CPUSeconds - before.CPUSeconds,
		P50ms:        sum.Latency.P50,
		P99ms:        sum.Latency.P99,
	}
	row.Errors = sum.Sessions - row.Completed - row.Injected
	row.ErrSample = errorSample(sum)
	if row.Errors > 0 {
		r.note("%s sessions test: %d sessions ended in errors (e.g. %s)", s.name, row.Errors, row.ErrSample)
	}
	return row, nil
}

// errorSample picks one failure other than the random injection to show.
func errorSample(sum loadgen.Summary) string {
	injected := protocol.Fail + " " + protocol.DefaultRandomString
	for line, n := range sum.FailLines {
		if n > 0 && line != injected {
			return line
		}
	}
	if len(sum.Errors) > 0 {
		return sum.Errors[0].Outcome + ": " + sum.Errors[0].Message
	}
	return ""
}

// parkedSignal turns loadgen's "parked N of M" notice into a channel close.
type parkedSignal struct {
	once sync.Once
	ch   chan struct{}
}

func (p *parkedSignal) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "parked ") {
		p.once.Do(func() { close(p.ch) })
	}
	return len(b), nil
}

// park: hold Park sessions in WORK and read memory, fds and goroutines
// before, during and after.
func (r *runner) park(ctx context.Context) error {
	for _, k := range []serverKind{kindTlslpd, kindBaseline} {
		row, err := r.parkOne(ctx, k)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		r.report.Park = append(r.report.Park, row)
		r.logf("%s: parked %d/%d in %.1fs; RSS %.1f -> %.1f -> %.1f MiB (%.1f KiB/session); goroutines %d -> %d -> %d; fds %d -> %d -> %d",
			row.Server, row.Parked, row.Requested, row.OpenSeconds,
			mib(row.Before.RSSBytes), mib(row.During.RSSBytes), mib(row.After.RSSBytes), row.RSSPerSession()/1024,
			row.Before.Goroutines, row.During.Goroutines, row.After.Goroutines,
			row.Before.FDs, row.During.FDs, row.After.FDs)
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func (r *runner) parkOne(ctx context.Context, k serverKind) (ParkRow, error) {
	s, err := r.start(ctx, k, r.opt.ParkWorkTimeout)
	if err != nil {
		return ParkRow{}, err
	}
	defer s.stop()
	// A short warm-up so the idle reading includes what any first session
	// allocates (TLS state, pools, event-loop buffers), not just startup.
	cfg := r.loadConfig(s)
	cfg.Workers = 8
	cfg.Duration = time.Second
	if _, err := loadgen.Run(ctx, cfg); err != nil {
		return ParkRow{}, fmt.Errorf("warm-up: %w", err)
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return ParkRow{}, err
	}
	row := ParkRow{Server: s.name, Requested: r.opt.Park}
	if row.Before, err = r.point(ctx, s); err != nil {
		return row, err
	}

	sig := &parkedSignal{ch: make(chan struct{})}
	cfg = r.loadConfig(s)
	cfg.Park = r.opt.Park
	cfg.Hold = r.opt.Hold
	cfg.WorkTimeout = time.Duration(r.opt.ParkWorkTimeout) * time.Second
	cfg.Notices = sig
	type result struct {
		sum loadgen.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := loadgen.Run(ctx, cfg)
		done <- result{sum, err}
	}()
	var res result
	select {
	case <-sig.ch:
		// Parked; let the server settle for a moment, then read a few
		// times and keep the peak, as RSS still grows while the last
		// handshakes' garbage is collected.
		if err := sleep(ctx, time.Second); err != nil {
			return row, err
		}
		for i := range 3 {
			p, err := r.point(ctx, s)
			if err != nil {
				return row, fmt.Errorf("while parked: %w", err)
			}
			if i == 0 || p.RSSBytes > row.During.RSSBytes {
				row.During.RSSBytes = p.RSSBytes
			}
			row.During.FDs = max(row.During.FDs, p.FDs)
			row.During.Goroutines = max(row.During.Goroutines, p.Goroutines)
			if err := sleep(ctx, 400*time.Millisecond); err != nil {
				return row, err
			}
		}
		res = <-done
	case res = <-done:
	}
	if res.err != nil {
		return row, fmt.Errorf("park: %w", res.err)
	}
	if res.sum.Park == nil {
		return row, errors.New("park: no park block in the summary")
	}
	row.Parked = res.sum.Park.Parked
	row.Dropped = res.sum.Park.Dropped
	row.OpenSeconds = res.sum.Park.OpenSeconds
	row.Failed = res.sum.Counts.Total() - res.sum.Counts.Unfinished
	if res.sum.Capped {
		r.note("%s park test: the load generator capped %d sessions to %d by RLIMIT_NOFILE", s.name, r.opt.Park, res.sum.Concurrency)
	}
	if row.Parked < row.Requested {
		r.note("%s park test: parked %d of %d (e.g. %s)", s.name, row.Parked, row.Requested, errorSample(res.sum))
	}

	// After the load generator closed its side the server must give back
	// every descriptor and goroutine; wait for that, within Settle.
	deadline := time.Now().Add(r.opt.Settle)
	for {
		p, err := r.point(ctx, s)
		if err != nil {
			return row, fmt.Errorf("after parking: %w", err)
		}
		row.After = p
		if p.FDs <= row.Before.FDs && p.Goroutines <= row.Before.Goroutines {
			row.Settled = true
			break
		}
		if time.Now().After(deadline) {
			r.note("%s park test: fds %d and goroutines %d had not returned to idle (%d, %d) %s after the sessions closed",
				s.name, p.FDs, p.Goroutines, row.Before.FDs, row.Before.Goroutines, r.opt.Settle)
			break
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return row, err
		}
	}
	return row, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (r *runner) pow(ctx context.Context) error {
	res, err := verify.Run(ctx, verify.Config{Token: r.opt.Token, NBits: r.opt.NBits, Duration: r.opt.PoWDuration, Rounds: r.opt.PoWRounds})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	r.report.PoW = &res
	r.logf("verify %.3g/s vs sha256 %.3g/s one core (%.2fx); all cores %.3g/s vs %.3g/s (%.2fx)",
		res.VerifyOne.PerSecond, res.SHA256One.PerSecond, res.RatioOne, res.VerifyAll.PerSecond, res.SHA256All.PerSecond, res.RatioAll)
	return nil
}

func (r *runner) timers() error {
	wheel, err := benchTimerWheel(r.opt.TimerRounds)
	if err != nil {
		return err
	}
	af, reset := benchRuntimeTimers(r.opt.TimerRounds)
	r.report.Timers = []TimerResult{wheel, af, reset}
	for _, t := range r.report.Timers {
		r.logf("%s: %.1f ns/op, %.3g ops/s, %d allocs/op", t.Name, t.NsPerOp, t.OpsPerSec, t.AllocsPerOp)
	}
	return nil
}

// handshakes: the same handshake-only load against each server. The
// client offers X25519 only: nginx's OpenSSL may lack the post-quantum
// hybrid Go prefers, and all three must do identical key exchanges.
func (r *runner) handshakes(ctx context.Context) error {
	kinds := []serverKind{kindTlslpd, kindBaseline}
	if r.opt.Nginx.Bin != "" {
		kinds = append(kinds, kindNginx)
	} else {
		r.report.Skipped = append(r.report.Skipped, "handshake: nginx row skipped: nginx (with the stream module) is not installed; `make bench-deps` installs it")
	}
	rows := map[serverKind]*HandshakeRow{}
	nginxFailed := false
	for round := range r.opt.Rounds {
		for _, k := range roundOrder(round, kinds...) {
			if k == kindNginx && nginxFailed {
				continue
			}
			row, err := r.handshakeOne(ctx, k)
			if err != nil {
				if k == kindNginx && ctx.Err() == nil {
					r.report.Skipped = append(r.report.Skipped, fmt.Sprintf("handshake: nginx row failed: %v", err))
					r.logf("nginx failed: %v", err)
					nginxFailed = true
					delete(rows, k)
					continue
				}
				return fmt.Errorf("%s round %d: %w", k, round+1, err)
			}
			r.logf("round %d %s: %d handshakes (%d errors) in %.1fs = %.0f/s, server CPU %.2fs = %.3f ms/handshake",
				round+1, row.Server, row.OK, row.Errors, row.Seconds, row.PerSecond(), row.CPUSeconds, row.CPUPerHandshake())
			if acc := rows[k]; acc != nil {
				acc.add(row)
			} else {
				row.RoundRates = []float64{row.PerSecond()}
				rows[k] = &row
			}
		}
	}
	for _, k := range kinds {
		if row := rows[k]; row != nil {
			r.report.Handshakes = append(r.report.Handshakes, *row)
		}
	}
	return nil
}

func (r *runner) handshakeOne(ctx context.Context, k serverKind) (HandshakeRow, error) {
	s, err := r.start(ctx, k, 60)
	if err != nil {
		return HandshakeRow{}, err
	}
	defer s.stop()
	tc := r.client.Clone()
	tc.CurvePreferences = []tls.CurveID{tls.X25519}
	load := handshakeLoad{host: "127.0.0.1", port: s.port, tls: tc, workers: r.opt.HandshakeWorkers,
		duration: r.opt.Warmup, sourceIPs: r.opt.SourceIPs, timeout: 10 * time.Second}
	if w := load.run(ctx); w.OK == 0 {
		return HandshakeRow{}, fmt.Errorf("warm-up: no handshake succeeded (%d errors, e.g. %s); log: %s", w.Errors, w.ErrSample, s.c.logTail())
	}
	before, err := r.sample(s)
	if err != nil {
		return HandshakeRow{}, err
	}
	load.duration = r.opt.HandshakeDuration
	got := load.run(ctx)
	after, err := r.sample(s)
	if err != nil {
		return HandshakeRow{}, err
	}
	if ctx.Err() != nil {
		return HandshakeRow{}, ctx.Err()
	}
	if got.Errors > 0 {
		r.note("%s handshake test: %d errors (e.g. %s)", s.name, got.Errors, got.ErrSample)
	}
	return HandshakeRow{Server: s.name, OK: got.OK, Errors: got.Errors, Seconds: got.Seconds,
		CPUSeconds: after.CPUSeconds - before.CPUSeconds, ErrSample: got.ErrSample}, nil
}

// machineInfo reads the CPU model and kernel from /proc.
func machineInfo() Machine {
	m := Machine{Cores: numCPU(), Go: goVersion()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = ParseCPUModel(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo.
func ParseCPUModel(cpuinfo string) string {
	for line := range strings.Lines(cpuinfo) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
