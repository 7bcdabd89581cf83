package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
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

	Duration time.Duration
	Sessions int

	// NBits is the expected difficulty; the summary reports what the
	// server actually sent in WORK whenever a session got that far.
	NBits      int
	Resumption bool
	// SourceIPs spreads connections over 127.0.0.1..127.0.0.K when the
	// target is IPv4 loopback.
	SourceIPs int

	WorkTimeout  time.Duration
	OtherTimeout time.Duration

	// Nofile is the open-file limit to cap concurrency against; 0 means
	// read RLIMIT_NOFILE.
	Nofile uint64
	// Notices receives one-line notices (capping, park progress); nil
	// discards. Progress, when set, gets a live progress line about once
	// a second (meant for a terminal).
	Notices  io.Writer
	Progress io.Writer
	// ProgressInterval defaults to one second.
	ProgressInterval time.Duration
}

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
	case c.TLS == nil:
		return fmt.Errorf("%w: no TLS configuration", ErrConfig)
	case modes != 1:
		return fmt.Errorf("%w: choose exactly one of workers, rate or park", ErrConfig)
	case c.Workers < 0 || c.Rate < 0 || c.Park < 0 || c.Sessions < 0 || c.Duration < 0 || c.Hold < 0:
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
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	if c.Notices == nil {
		c.Notices = io.Discard
	}
	return nil
}

// Run drives the load described by cfg and summarises it. Cancelling ctx
// stops it early; the summary then covers what ran (cut sessions count as
// aborted). The error is non-nil only when the run could not start.
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
		what := map[string]string{"closed": "--workers", "open": "in-flight sessions", "park": "--park"}[mode]
		fmt.Fprintln(cfg.Notices, CapMessage(what, requested, effective, nofile))
	}
	sum := Summary{
		SchemaVersion:        SchemaVersion,
		Mode:                 mode,
		Target:               net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		Concurrency:          effective,
		RequestedConcurrency: requested,
		Capped:               capped,
		Rate:                 cfg.Rate,
		NBits:                cfg.NBits,
		Resumption:           cfg.Resumption,
		SourceIPs:            max(1, len(SourceAddrs(cfg.Host, cfg.SourceIPs))),
	}
	r := newSessionRunner(&cfg)
	start := time.Now()
	st := newStats(start)

	stopProgress := startProgress(cfg, st, start)
	switch mode {
	case "closed":
		runClosed(ctx, cfg, effective, r, st)
	case "open":
		runOpen(ctx, cfg, effective, r, st, start)
	case "park":
		sum.Park = runPark(ctx, cfg, effective, r, st)
	}
	stopProgress()
	st.fill(&sum, time.Since(start))
	if seen := r.workBits.Load(); seen >= 0 {
		sum.NBits = int(seen)
	}
	return sum, nil
}

// issuer hands out session numbers until the count or the deadline is hit.
type issuer struct {
	limit    uint64 // 0: unlimited
	n        atomic.Uint64
	deadline time.Time // zero: none
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
		return 0, false
	}
	n := is.n.Add(1)
	if is.limit > 0 && n > is.limit {
		return 0, false
	}
	return n - 1, true
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

func runClosed(ctx context.Context, cfg Config, workers int, r *sessionRunner, st *stats) {
	is := newIssuer(cfg, st.start)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var backoff connectBackoff
			for ctx.Err() == nil {
				t := time.Now()
				if _, ok := is.next(t); !ok {
					return
				}
				// Worker w always uses the same source address so each
				// address's port range is used evenly.
				o, _ := r.run(ctx, uint64(w), false)
				now := time.Now()
				st.record(o, now.Sub(t), now)
				backoff.after(ctx, o)
			}
		}()
	}
	wg.Wait()
}

func runOpen(ctx context.Context, cfg Config, inflight int, r *sessionRunner, st *stats, start time.Time) {
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
				return
			case <-timer.C:
			}
		}
		n, ok := is.next(intended)
		if !ok {
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o, _ := r.run(ctx, n, false)
			now := time.Now()
			st.record(o, now.Sub(intended), now)
		}()
	}
}

func runPark(ctx context.Context, cfg Config, n int, r *sessionRunner, st *stats) *Park {
	p := &Park{Requested: n}
	openStart := time.Now()
	var (
		mu     sync.Mutex
		conns  []*tls.Conn
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
				o, c := r.run(ctx, uint64(i), true)
				st.record(o, 0, time.Now())
				backoff.after(ctx, o)
				if c == nil {
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
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
	}
	watch.Wait()
	p.Dropped = int(drops.Load())
	return p
}

func startProgress(cfg Config, st *stats, start time.Time) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tk := time.NewTicker(cfg.ProgressInterval)
		defer tk.Stop()
		var last uint64
		for {
			select {
			case <-done:
				fmt.Fprint(cfg.Progress, "\r\033[K")
				return
			case now := <-tk.C:
				c := st.snapshot()
				total := c.Total()
				rate := float64(total-last) / cfg.ProgressInterval.Seconds()
				last = total
				errs := total - c.Completed - c.InjectedFail - c.Aborted
				fmt.Fprintf(cfg.Progress, "\r\033[K%5.0fs  sessions %d  completed %d  %.0f/s  injected FAIL %d  errors %d",
					now.Sub(start).Seconds(), total, c.Completed, rate, c.InjectedFail, errs)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
