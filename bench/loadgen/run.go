package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tlslpd/protocol"
)

// ErrConfig is wrapped for an unusable Config.
var ErrConfig = errors.New("invalid load configuration")

// Config of a load run. Exactly one of Workers (closed model), Rate (open
// model) or Park selects the mode; Duration and/or Sessions bound the
// closed and open models (whichever comes first).
type Config struct {
	Host string
	Port int
	TLS  *tls.Config

	Workers int
	Rate    float64
	// MaxInflight caps concurrent sessions in the open model; 0 means 10000.
	// When the cap is hit, arrivals queue and their wait counts as latency.
	MaxInflight int
	Park        int
	// Hold is how long park mode holds its sessions.
	Hold time.Duration
	// ParkDialers is how many sessions park mode opens concurrently; 0: 64.
	ParkDialers int

	// Duration stops new sessions after it; sessions still running get
	// Grace (0: DefaultGrace) to finish, then are cut and count as
	// unfinished. Sessions stops after that many have started.
	Duration time.Duration
	Grace    time.Duration
	Sessions int

	Resumption bool
	// Plain plays sessions over plain TCP, for a tlslpd tcp:// (or auto://)
	// listener: no TLS, so no TLS handshake phase; TLS is then unused.
	Plain bool
	// SourceIPs spreads connections over 127.0.0.1..127.0.0.K when the
	// target is IPv4 loopback.
	SourceIPs int
	// Identities, when positive, makes that many transient self-signed
	// client certificates at start and spreads sessions over them (see
	// identities.go); TLS's own certificate is then not sent.
	Identities int

	WorkTimeout  time.Duration
	OtherTimeout time.Duration

	// Nofile is the open-file limit to cap concurrency against; 0 means
	// read RLIMIT_NOFILE.
	Nofile uint64
	// Notices receives one-line notices (capping, park progress); nil
	// discards. Progress, when set, gets a status line every
	// ProgressInterval: rewritten in place when ProgressLive (a terminal),
	// one line each otherwise (a pipe or a log).
	Notices          io.Writer
	Progress         io.Writer
	ProgressLive     bool
	ProgressInterval time.Duration // 0: 1s live, 5s otherwise

	// Interval is the length of the intervals latency and counts are kept
	// in (0: one second). Out, when set, receives them as an HdrHistogram
	// interval log (see ReadResults) while the run goes.
	Interval time.Duration
	Out      io.Writer
	// Args and Flags describe the command line, for the results' metadata.
	Args  []string
	Flags map[string]string

	// OnParked, when set, is called once in park mode when the sessions
	// are open, before the hold: the signal for a caller that measures the
	// server while they are held.
	OnParked func(parked, requested int)

	onSample func(time.Duration) // test hook (export_test.go)
}

// DefaultGrace is how long sessions in flight at the end of --duration
// may take to finish.
const DefaultGrace = 5 * time.Second

func (c *Config) mode() string {
	switch {
	case c.Park > 0:
		return "park"
	case c.Rate > 0:
		return "open"
	}
	return "closed"
}

func (c *Config) validate() error {
	modes := 0
	for _, on := range []bool{c.Workers > 0, c.Rate > 0, c.Park > 0} {
		if on {
			modes++
		}
	}
	switch {
	case c.Host == "":
		return fmt.Errorf("%w: empty host", ErrConfig)
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("%w: port %d", ErrConfig, c.Port)
	case c.TLS == nil && !c.Plain:
		return fmt.Errorf("%w: no TLS configuration", ErrConfig)
	case c.Plain && (c.Resumption || c.Identities > 0):
		return fmt.Errorf("%w: plain TCP has no TLS resumption or client certificates", ErrConfig)
	case modes != 1:
		return fmt.Errorf("%w: choose exactly one of workers, rate or park", ErrConfig)
	case c.Workers < 0 || c.Rate < 0 || c.Park < 0 || c.Sessions < 0 || c.Duration < 0 || c.Hold < 0 || c.Grace < 0 || c.Interval < 0 || c.Identities < 0:
		return fmt.Errorf("%w: negative value", ErrConfig)
	case c.Park == 0 && c.Duration == 0 && c.Sessions == 0:
		return fmt.Errorf("%w: give a duration or a session count", ErrConfig)
	case c.Park > 0 && c.Hold == 0:
		return fmt.Errorf("%w: park mode needs a hold duration", ErrConfig)
	}
	if c.WorkTimeout <= 0 {
		c.WorkTimeout = protocol.DefaultWorkTimeout
	}
	if c.OtherTimeout <= 0 {
		c.OtherTimeout = protocol.DefaultOtherTimeout
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 10000
	}
	if c.ParkDialers <= 0 {
		c.ParkDialers = 64
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.Interval < time.Millisecond {
		return fmt.Errorf("%w: interval %s shorter than a millisecond", ErrConfig, c.Interval)
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
		if !c.ProgressLive {
			c.ProgressInterval = 5 * time.Second
		}
	}
	if c.Notices == nil {
		c.Notices = io.Discard
	}
	return nil
}

// Run drives the load described by cfg and summarises it. Cancelling ctx
// stops it early; the summary then covers what ran (cut sessions count as
// unfinished). The error is non-nil when the run could not start, or when
// writing cfg.Out failed.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.validate(); err != nil {
		return Summary{}, err
	}
	mode := cfg.mode()
	requested := map[string]int{"closed": cfg.Workers, "open": cfg.MaxInflight, "park": cfg.Park}[mode]
	nofile := cfg.Nofile
	if nofile == 0 {
		n, err := NofileLimit()
		if err != nil {
			return Summary{}, err
		}
		nofile = n
	}
	effective, capped := CapConcurrency(requested, nofile)
	if capped {
		what := map[string]string{"closed": "--workers", "open": "--max-inflight", "park": "--park"}[mode]
		fmt.Fprintln(cfg.Notices, CapMessage(what, requested, effective, nofile))
	}
	r := newSessionRunner(&cfg)
	if err := r.useIdentities(cfg.Identities, cfg.Resumption, cfg.Notices); err != nil {
		return Summary{}, err
	}
	start := time.Now()
	meta := RunMeta{
		Tool: "tlslpd bench load", Version: toolVersion(), Host: hostname(), StartTime: start.UTC(),
		Args: cfg.Args, Flags: cfg.Flags, Mode: mode,
		Target:      net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		Concurrency: effective, Capped: capped,
		IntervalMs: cfg.Interval.Milliseconds(), CPUs: runtime.GOMAXPROCS(0),
		Resumption: cfg.Resumption, Plain: cfg.Plain, SourceIPs: max(1, len(SourceAddrs(cfg.Host, cfg.SourceIPs))), Identities: cfg.Identities,
		DurationLimit: cfg.Duration.Seconds(), SessionsLimit: cfg.Sessions, NBits: -1,
	}
	switch mode {
	case "closed":
		meta.Workers = cfg.Workers
	case "open":
		meta.Rate, meta.MaxInflight = cfg.Rate, cfg.MaxInflight
	case "park":
		meta.Park = cfg.Park
	}
	if cfg.Duration > 0 && mode != "park" {
		meta.GraceSeconds = cfg.Grace.Seconds()
	}
	var out *logWriter
	if cfg.Out != nil {
		var err error
		if out, err = newLogWriter(cfg.Out, &meta); err != nil {
			return Summary{}, fmt.Errorf("--out: %w", err)
		}
	}
	agg := newAggregator()
	rec := newRecorder(start, cfg.Interval, func() int64 { n, _ := r.inFlight(); return n + r.held.Load() }, func(iv *interval) error {
		agg.add(iv)
		if out != nil {
			if err := out.interval(iv); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
		}
		return nil
	})
	rec.onSample = cfg.onSample

	// Sessions run under their own context: cancelled by ctx (an
	// interrupt) or once the grace after --duration is over.
	sessCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 && mode != "park" {
		t := time.AfterFunc(cfg.Duration+cfg.Grace, cancel)
		defer t.Stop()
	}
	stopTicker := startTicker(cfg, rec, r, start)
	var loadEnd time.Time
	switch mode {
	case "closed":
		loadEnd = runClosed(sessCtx, cfg, effective, r, rec, start)
	case "open":
		loadEnd = runOpen(sessCtx, cfg, effective, r, rec, start)
	case "park":
		meta.ParkResult = runPark(sessCtx, cfg, effective, r, rec)
		loadEnd = time.Now()
	}
	stopTicker()
	end := time.Now()
	rec.roll(end, true)
	meta.EndTime = end.UTC()
	meta.LoadSeconds = loadEnd.Sub(start).Seconds()
	if seen := r.workBits.Load(); seen >= 0 {
		meta.NBits = int(seen)
	}
	meta.Started, meta.Counts = agg.totals.Started, &agg.totals.Counts
	err := rec.err
	if out != nil && err == nil {
		err = out.end(&meta)
	}
	sum := agg.summary([]RunMeta{meta})
	return sum, err
}

// issuer hands out session numbers until the count or the deadline is
// hit, and remembers when it first refused: the end of the load window.
type issuer struct {
	limit    uint64 // 0: unlimited
	n        atomic.Uint64
	deadline time.Time // zero: none
	mu       sync.Mutex
	stopped  time.Time
}

func newIssuer(cfg Config, start time.Time) *issuer {
	is := &issuer{limit: uint64(cfg.Sessions)}
	if cfg.Duration > 0 {
		is.deadline = start.Add(cfg.Duration)
	}
	return is
}

// next returns the next session number, or false when no more may start.
func (is *issuer) next(now time.Time) (uint64, bool) {
	if !is.deadline.IsZero() && !now.Before(is.deadline) {
		is.stop(is.deadline)
		return 0, false
	}
	n := is.n.Add(1)
	if is.limit > 0 && n > is.limit {
		is.stop(time.Now()) // now may be an arrival's intended time
		return 0, false
	}
	return n - 1, true
}

func (is *issuer) stop(t time.Time) {
	is.mu.Lock()
	if is.stopped.IsZero() || t.Before(is.stopped) {
		is.stopped = t
	}
	is.mu.Unlock()
}

// loadEnd is when sessions stopped being started (now if they never were
// refused: the run was interrupted).
func (is *issuer) loadEnd(interrupted time.Time) time.Time {
	is.mu.Lock()
	defer is.mu.Unlock()
	end := interrupted
	if !is.stopped.IsZero() && is.stopped.Before(end) {
		end = is.stopped
	}
	// Workers busy past the deadline never asked again; it still ended then.
	if !is.deadline.IsZero() && is.deadline.Before(end) {
		end = is.deadline
	}
	return end
}

// Connect retries back off while connects keep failing, so a server that
// is down (or a port nobody listens on) sees a trickle of attempts instead
// of every worker spinning on refused connects: 5 ms doubling to 100 ms,
// reset by the first session that connects. The open model needs none: its
// schedule already paces attempts.
const (
	connectBackoffMin = 5 * time.Millisecond
	connectBackoffMax = 100 * time.Millisecond
)

type connectBackoff struct{ wait time.Duration }

// after waits before a worker's next attempt when o was a failed connect.
func (b *connectBackoff) after(ctx context.Context, o outcome) {
	if o.kind != kConnect {
		b.wait = 0
		return
	}
	b.wait = min(max(2*b.wait, connectBackoffMin), connectBackoffMax)
	t := time.NewTimer(b.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func runClosed(ctx context.Context, cfg Config, workers int, r *sessionRunner, rec *recorder, start time.Time) time.Time {
	is := newIssuer(cfg, start)
	var wg sync.WaitGroup
	var cut time.Time
	var cutOnce sync.Once
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var backoff connectBackoff
			for {
				if ctx.Err() != nil {
					cutOnce.Do(func() { cut = time.Now() })
					return
				}
				t := time.Now()
				if _, ok := is.next(t); !ok {
					return
				}
				rec.started()
				// Worker w always uses the same source address so each
				// address's port range is used evenly.
				o, _ := r.run(ctx, uint64(w), false)
				rec.record(o, time.Since(t))
				backoff.after(ctx, o)
			}
		}()
	}
	wg.Wait()
	if cut.IsZero() {
		cut = time.Now()
	}
	return is.loadEnd(cut)
}

func runOpen(ctx context.Context, cfg Config, inflight int, r *sessionRunner, rec *recorder, start time.Time) time.Time {
	is := newIssuer(cfg, start)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	sem := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := uint64(0); ; i++ {
		// Intended start times follow the schedule no matter how late we
		// are, so a stalled server shows up as latency, not as fewer
		// samples (coordinated omission).
		intended := start.Add(time.Duration(i) * interval)
		if d := time.Until(intended); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return is.loadEnd(time.Now())
			case <-timer.C:
			}
		}
		n, ok := is.next(intended)
		if !ok {
			return is.loadEnd(time.Now())
		}
		select {
		case sem <- struct{}{}:
		default:
			// All --max-inflight slots are taken: the arrival waits, and
			// if it waits past the end of the load window it never starts
			// (the offered load was not taken).
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return is.loadEnd(time.Now())
			}
			if !is.deadline.IsZero() && !time.Now().Before(is.deadline) {
				<-sem
				return is.loadEnd(is.deadline)
			}
		}
		rec.started()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o, _ := r.run(ctx, n, false)
			rec.record(o, time.Since(intended))
		}()
	}
}

func runPark(ctx context.Context, cfg Config, n int, r *sessionRunner, rec *recorder) *Park {
	p := &Park{Requested: n}
	openStart := time.Now()
	var (
		mu     sync.Mutex
		conns  []net.Conn
		next   atomic.Int64
		wg     sync.WaitGroup
		closed atomic.Bool
		drops  atomic.Int64
		watch  sync.WaitGroup
	)
	for range min(cfg.ParkDialers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var backoff connectBackoff
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				rec.started()
				o, c := r.run(ctx, uint64(i), true)
				rec.record(o, 0)
				backoff.after(ctx, o)
				if c == nil {
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				r.held.Add(1)
				// A parked session must stay silent; any read result
				// before we close it means the server dropped it.
				watch.Add(1)
				go func() {
					defer watch.Done()
					var b [1]byte
					_, _ = c.Read(b[:])
					if !closed.Load() {
						drops.Add(1)
					}
				}()
			}
		}()
	}
	wg.Wait()
	p.OpenSeconds = time.Since(openStart).Seconds()
	p.Parked = len(conns)
	fmt.Fprintf(cfg.Notices, "tlslpd bench load: parked %d of %d sessions at WORK in %.2fs; holding for %s\n",
		p.Parked, n, p.OpenSeconds, cfg.Hold)
	if cfg.OnParked != nil {
		cfg.OnParked(p.Parked, n)
	}
	holdStart := time.Now()
	t := time.NewTimer(cfg.Hold)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	p.HoldSeconds = time.Since(holdStart).Seconds()
	closed.Store(true)
	for _, c := range conns {
		_ = c.Close()
		r.held.Add(-1)
	}
	watch.Wait()
	p.Dropped = int(drops.Load())
	return p
}

// startTicker closes each interval at its wall-clock end (a timer per
// boundary, so sessions land in the interval they finished in) and writes
// the progress line.
func startTicker(cfg Config, rec *recorder, r *sessionRunner, start time.Time) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		nextRoll := start.Truncate(cfg.Interval).Add(cfg.Interval)
		nextProgress := start.Add(cfg.ProgressInterval)
		// In-flight peaks are sampled between boundaries too.
		sample := min(cfg.Interval/4, 100*time.Millisecond)
		nextSample := start.Add(sample)
		timer := time.NewTimer(0)
		defer timer.Stop()
		var last uint64
		lastAt := start
		for {
			wake := nextRoll
			if nextSample.Before(wake) {
				wake = nextSample
			}
			if cfg.Progress != nil && nextProgress.Before(wake) {
				wake = nextProgress
			}
			timer.Reset(time.Until(wake))
			var now time.Time
			select {
			case <-done:
				if cfg.Progress != nil && cfg.ProgressLive {
					fmt.Fprint(cfg.Progress, "\r\033[K")
				}
				return
			case now = <-timer.C:
			}
			if !now.Before(nextSample) {
				rec.sampleInflight()
				nextSample = now.Add(sample)
			}
			if !now.Before(nextRoll) {
				rec.roll(now, false)
				nextRoll = now.Truncate(cfg.Interval).Add(cfg.Interval)
			}
			if cfg.Progress == nil || now.Before(nextProgress) {
				continue
			}
			nextProgress = nextProgress.Add(cfg.ProgressInterval)
			c := rec.snapshot()
			total := c.Total()
			rate := float64(total-last) / now.Sub(lastAt).Seconds()
			last, lastAt = total, now
			line := progressLine(now.Sub(start), c, rate, r)
			if cfg.ProgressLive {
				fmt.Fprintf(cfg.Progress, "\r\033[K%s", line)
			} else {
				fmt.Fprintf(cfg.Progress, "tlslpd bench load: %s\n", line)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func progressLine(elapsed time.Duration, c Counts, rate float64, r *sessionRunner) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%5.0fs  finished %d (%s)  completed %d  injected FAIL %d  errors %d",
		elapsed.Seconds(), c.Total(), humanRate(rate), c.Completed, c.InjectedFail, c.Errors())
	if c.Unfinished > 0 {
		fmt.Fprintf(&b, "  unfinished %d", c.Unfinished)
	}
	n, by := r.inFlight()
	fmt.Fprintf(&b, "  in flight %d", n)
	if n > 0 {
		var parts []string
		for p := range numPhases {
			if by[p] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", phaseNames[p], by[p]))
			}
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	return b.String()
}
