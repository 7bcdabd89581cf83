package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tlslpd/config"
	"tlslpd/eventloop"
	"tlslpd/identity"
	"tlslpd/logsink"
	"tlslpd/metrics"
	"tlslpd/monitor"
	"tlslpd/records"
	"tlslpd/statemachine"
	"tlslpd/tlsbridge"
	"tlslpd/transport"
	"tlslpd/version"
)

// Main runs the server command line: exit 0 on a clean stop (and after the
// tutorial session), 1 on a runtime failure, 2 on bad flags or config.
// SIGTERM/SIGINT drain and stop; a second one exits at once (the same
// signal again within DuplicateSignalWindow is the same request); SIGHUP reloads
// certificates and reopens the records file.
func Main(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse("tlslpd", args, stdout)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd: %s\n", trimUsage(err))
		return 2
	}
	if cfg.ShowVersion {
		fmt.Fprintln(stdout, version.Get())
		return 0
	}
	// Log lines leave through a batching sink so that no event loop ever
	// waits on stderr; it is flushed before anything is written to stderr
	// directly, and on every way out.
	logs := logsink.New(stderr, logsink.Options{})
	defer logs.Close()
	var ref *refLog
	fail := func(code int, msg string) int {
		ref.close()
		_ = logs.Close()
		fmt.Fprintf(stderr, "tlslpd: %s\n", msg)
		return code
	}
	var logger zerolog.Logger
	if cfg.ReferenceLog {
		if ref, err = openRefLog(cfg, logs, os.Getenv); err != nil {
			return fail(1, err.Error())
		}
		defer ref.close()
		logger, err = ref.zerolog(cfg)
	} else {
		term := isTerminal(stderr)
		logger, err = NewLogger(cfg, logs, term, term && os.Getenv("NO_COLOR") == "")
	}
	if err != nil {
		return fail(2, trimUsage(err))
	}
	if ref != nil {
		ref.steps().Starting()
	}
	if pct, ok := cfg.GCPercentToApply(os.Getenv("GOGC")); ok {
		// Per-session garbage is mostly crypto/tls's; collecting less
		// often saved ~15% CPU per session here (BENCHMARKS.md).
		debug.SetGCPercent(pct)
	}
	d, err := New(cfg, logger)
	if err != nil {
		return fail(1, err.Error())
	}
	d.attachLogSink(logs)
	d.ref = ref

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go d.handleSignals(sigs, cancel)

	if err := d.Run(ctx); err != nil {
		if d.served() {
			// A failure while serving is also an event for whatever reads
			// the log; one before (a port in use) is one line, like every
			// other startup error.
			logger.Error().Err(err).Msg("tlslpd stopped")
		}
		return fail(1, err.Error())
	}
	return 0
}

// attachLogSink lets the daemon flush the log sink before an abrupt exit
// and exports its drop count.
func (d *Daemon) attachLogSink(s *logsink.Sink) {
	d.logs = s
	d.met.CounterFunc("tlslpd_log_lines_dropped_total", "Log lines dropped because stderr could not keep up.", func() float64 { return float64(s.Dropped()) })
}

// DuplicateSignalWindow is how soon after the first a repeat of the same
// stop signal counts as the same request: coreutils' timeout, a shell's
// job control or a service manager often send SIGTERM to the process and
// to its process group at once, and that is one request to stop, not an
// operator insisting.
const DuplicateSignalWindow = time.Second

func (d *Daemon) handleSignals(sigs <-chan os.Signal, stop context.CancelFunc) {
	stopping := false
	var first os.Signal
	var firstAt time.Time
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			d.Reload()
			continue
		}
		if stopping && sig == first && time.Since(firstAt) < DuplicateSignalWindow {
			d.log.Debug().Str("signal", sig.String()).Msg("same signal again at once: one request to stop")
			continue
		}
		if stopping {
			// The operator means it: leave now, keeping what the records
			// buffer already holds.
			d.log.Warn().Str("signal", sig.String()).Msg("second signal: exiting at once")
			if d.records != nil {
				if err := within(exitFlushTimeout, d.records.Flush); err != nil {
					d.log.Error().Err(err).Msg("records not flushed")
				}
			}
			d.ref.close()
			if d.logs != nil {
				_ = d.logs.Close() // bounded by its own CloseTimeout
			}
			os.Exit(1)
		}
		stopping, first, firstAt = true, sig, time.Now()
		d.log.Info().Str("signal", sig.String()).Stringer("drain_timeout", d.cfg.DrainTimeout).Msg("stopping")
		stop()
	}
}

func trimUsage(err error) string {
	s := err.Error()
	if p := config.ErrUsage.Error() + ": "; len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// NewLogger builds the zerolog logger the flags ask for. terminal says
// whether w ends at a terminal: then the default --log-format is console,
// otherwise JSON, for machines. Colour codes are written only with color,
// which the caller sets only for a terminal (and not under NO_COLOR).
func NewLogger(cfg config.Server, w io.Writer, terminal, color bool) (zerolog.Logger, error) {
	level, err := config.ParseLevel(cfg.LogLevel)
	if err != nil {
		return zerolog.Nop(), err
	}
	if cfg.LogFormat == "console" || (cfg.LogFormat == "" && terminal) {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !color,
			// The status line and the session record in their own order
			// rather than sorted by name.
			FieldsOrder: append(statusFieldNames(), eventloop.RecordFields()...)}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// isTerminal reports whether w is a terminal; /dev/null, files and pipes
// are not.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// Hooks let tests observe a running daemon; all fields are optional.
type Hooks struct {
	// Started receives the server once its listeners are bound.
	Started func(*eventloop.Server)
	// OnRecord receives every finished session (on its event loop).
	OnRecord func(*eventloop.Record)
}

// Daemon is one configured tlslpd process.
type Daemon struct {
	cfg     config.Server
	log     zerolog.Logger
	tlsCtx  *tlsbridge.Server
	monitor *monitor.Monitor // with the metrics endpoint
	met     *metrics.Metrics
	admin   *metrics.HTTP
	records *records.Writer
	logs    *logsink.Sink // nil when the caller logs elsewhere (tests)
	ref     *refLog       // --reference-log; nil when off
	srv     *eventloop.Server
	notify  notifier
	reloads atomic.Int64
	// reloadFailures counts reloads that kept the old material.
	reloadFailures atomic.Int64
	// reloadMu serialises certificate reloads (SIGHUP and the file watcher).
	reloadMu sync.Mutex
	// ids holds the identity rules (lists, per-identity cap, decision
	// counts); nil without client certificates.
	ids   *identity.Rules
	Hooks Hooks
}

// New loads TLS material, opens the records file and binds the metrics
// endpoint: everything that can fail on bad input fails here, before Run.
func New(cfg config.Server, logger zerolog.Logger) (*Daemon, error) {
	d := &Daemon{cfg: cfg, log: logger, met: metrics.New(), notify: systemdNotifier(logger)}
	if err := d.newIdentityRules(); err != nil {
		return nil, err
	}
	// Only a listener that can speak TLS needs the certificate files: a
	// plain-only daemon (tcp://, ws://) runs without them.
	var tlsCfg tlsbridge.Config
	var err error
	if cfg.ServesTLS() {
		if tlsCfg, err = d.loadTLS(); err != nil {
			if missingDefaultCertificate(err) {
				// A newcomer's first run: say where certificates come from.
				err = fmt.Errorf("%w (tlslpd certs writes development certificates into certificates/; --server-cert, --server-key and --ca-cert name others)", err)
			}
			return nil, err
		}
		if d.tlsCtx, err = tlsbridge.NewServer(tlsCfg); err != nil {
			return nil, fmt.Errorf("TLS setup: %w", err)
		}
	}
	d.registerTLSMetrics()
	d.exportDeployment(tlsCfg)
	if cfg.Records != "" {
		d.records, err = records.Open(records.Options{
			Path: cfg.Records, MaxBytes: cfg.RecordsMaxBytes, MaxBackups: cfg.RecordsBackups, Logger: logger,
		})
		if err != nil {
			return nil, err // it names the records file
		}
		w := d.records
		d.met.CounterFunc("tlslpd_records_written_total", "Session records written to --records.", func() float64 { return float64(w.Written()) })
		d.met.CounterFunc("tlslpd_records_dropped_total", "Session records dropped because the records file could not keep up.", func() float64 { return float64(w.Dropped()) })
	}
	if cfg.MetricsAddr != "" {
		d.monitor = monitor.New(d.met.Registry, monitor.Options{})
		opts := metrics.HTTPOptions{Pprof: cfg.MetricsPprof, Handlers: d.monitor.Handlers()}
		if d.admin, err = metrics.Listen(cfg.MetricsAddr, d.met, opts); err != nil {
			d.monitor.Close()
			d.closeRecords()
			return nil, err
		}
		d.logMetricsEndpoint()
	}
	return d, nil
}

func (d *Daemon) loadTLS() (tlsbridge.Config, error) {
	tlsCfg, err := tlsbridge.Load(tlsbridge.Files{
		Cert: d.cfg.ServerCert, Key: d.cfg.ServerKey, CA: d.cfg.CACert, ClientAuth: d.cfg.ClientAuth, SNI: d.cfg.SNI,
	})
	if err != nil {
		return tlsCfg, fmt.Errorf("load TLS material: %w", err)
	}
	if d.ids != nil {
		tlsCfg.Identity = d.checkIdentity
	}
	d.warnSNIMismatch(tlsCfg)
	tlsCfg.MaxHandshakes = d.cfg.MaxHandshakes
	tlsCfg.MaxSuspendedHandshakes = d.cfg.MaxSuspendedHandshakes
	tlsCfg.MaxSuspendedPerAddr = d.cfg.MaxSuspendedPerIP
	return tlsCfg, nil
}

func (d *Daemon) registerTLSMetrics() {
	stats := func() tlsbridge.Stats { return tlsbridge.Stats{} } // plain only: every series at zero
	if d.tlsCtx != nil {
		stats = d.tlsCtx.Stats
	}
	d.met.GaugeFunc("tlslpd_tls_handshakes_in_flight", "TLS handshakes running now.", func() float64 { return float64(stats().HandshakesInFlight) })
	d.met.GaugeFunc("tlslpd_tls_handshake_runners_idle", "Handshake coroutines kept idle for the next handshakes.", func() float64 { return float64(stats().IdleCoroutines) })
	d.met.GaugeFunc("tlslpd_tls_handshakes_computing", "TLS handshakes holding a --max-handshakes slot now.", func() float64 { return float64(stats().HandshakesComputing) })
	d.met.GaugeFunc("tlslpd_tls_handshakes_suspended", "TLS handshakes waiting for their peer's bytes now.", func() float64 { return float64(stats().HandshakesSuspended) })
	byReason := func(name, help string, counters map[string]func(tlsbridge.Stats) int64) {
		for reason, n := range counters {
			d.met.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: name, Help: help, ConstLabels: prometheus.Labels{"reason": reason},
			}, func() float64 { return float64(n(stats())) }))
		}
	}
	byReason("tlslpd_tls_handshakes_shed_total",
		"Suspended TLS handshakes ended to make room, by reason: stalled (the suspended bound was reached and it had waited longest), address_share (its source address held more than its share).",
		map[string]func(tlsbridge.Stats) int64{
			"stalled":       func(s tlsbridge.Stats) int64 { return s.HandshakesShedStalled },
			"address_share": func(s tlsbridge.Stats) int64 { return s.HandshakesShedAddrShare },
		})
	d.met.CounterFunc("tlslpd_tls_handshakes_penalized_total", "TLS handshakes refused because their source address had a session closed for abuse in the last 10s.", func() float64 { return float64(stats().HandshakesPenalized) })
	byReason("tlslpd_tls_peer_abuse_total",
		"Established TLS sessions closed because the peer sent more records without application data than allowed per unit of time, by reason.",
		map[string]func(tlsbridge.Stats) int64{
			"key_update":    func(s tlsbridge.Stats) int64 { return s.AbuseKeyUpdates },
			"empty_records": func(s tlsbridge.Stats) int64 { return s.AbuseEmptyRecords },
			"alerts":        func(s tlsbridge.Stats) int64 { return s.AbuseAlerts },
			"renegotiation": func(s tlsbridge.Stats) int64 { return s.AbuseRenegotiations },
		})
	d.met.GaugeFunc("tlslpd_tls_handshakes_queued", "TLS handshakes waiting for a slot now.", func() float64 { return float64(stats().HandshakesQueued) })
	d.met.CounterFunc("tlslpd_tls_handshakes_waited_total", "TLS handshakes that had to wait for a slot.", func() float64 { return float64(stats().HandshakesWaited) })
	d.met.CounterFunc("tlslpd_tls_resumed_total", "TLS handshakes that resumed a session.", func() float64 { return float64(stats().Resumed) })
	d.met.CounterFunc("tlslpd_tls_reloads_total", "Successful certificate reloads (SIGHUP or changed files).", func() float64 { return float64(d.reloads.Load()) })
	d.met.CounterFunc("tlslpd_tls_reload_failures_total", "Certificate reloads that failed and kept the current certificates.", func() float64 { return float64(d.reloadFailures.Load()) })
}

// Reload re-reads certificate, key and CA for new handshakes (established
// sessions keep theirs) and reopens the records file. A bad file keeps the
// old material and says why.
func (d *Daemon) Reload() error {
	d.notify.reloading()
	defer d.notify.ready()
	if d.records != nil {
		if err := d.records.Reopen(); err != nil {
			d.log.Error().Err(err).Msg("reopen records file")
		}
	}
	if err := d.ref.reopen(); err != nil {
		d.log.Error().Err(err).Msg("reopen the reference log file")
	}
	return d.reloadCertificates("SIGHUP")
}

// reloadCertificates swaps in the certificate, key and CA files for new
// handshakes; cause says what asked for it (in the log line).
func (d *Daemon) reloadCertificates(cause string) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	idErr := d.reloadIdentities(cause)
	if d.tlsCtx == nil {
		return idErr // no TLS listener: no certificates to reload
	}
	tlsCfg, err := d.loadTLS()
	if err == nil {
		err = d.tlsCtx.Reload(tlsCfg)
	}
	if err != nil {
		d.reloadFailures.Add(1)
		d.log.Error().Err(err).Str("cause", cause).Msg("reload failed; keeping the current certificates")
		return err
	}
	if idErr != nil {
		return idErr
	}
	d.reloads.Add(1)
	d.exportCertExpiry(tlsCfg)
	d.log.Info().Str("cause", cause).Str("server_cert", d.cfg.ServerCert).Str("ca_cert", d.cfg.CACert).Msg("certificates reloaded")
	return nil
}

// Run serves until ctx ends (then drains) or the tutorial session is over.
// Every session record is flushed to the records file before it returns.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.closeRecords()
	onRecord := d.Hooks.OnRecord
	if d.monitor != nil {
		mon, hook := d.monitor, onRecord
		onRecord = func(r *eventloop.Record) {
			mon.Offer(func() monitor.Session { return monitorSession(r) })
			if hook != nil {
				hook(r)
			}
		}
	}
	if d.records != nil {
		w, hook := d.records, onRecord
		onRecord = func(r *eventloop.Record) {
			// Append only buffers; a full buffer is counted and logged by
			// the writer, never a stalled loop.
			_ = w.Append(r)
			if hook != nil {
				hook(r)
			}
		}
	}
	maxConns := d.cfg.MaxConns
	if nofile, err := nofileLimit(); err == nil {
		if fit := fitMaxConns(maxConns, nofile); fit < maxConns {
			d.log.Warn().Int("max_conns", maxConns).Int("lowered_to", fit).Uint64("open_file_limit", nofile).
				Msg("--max-conns is more than the open-file limit allows, lowered so a flood of connections cannot stop the daemon; raise the limit (ulimit -n, systemd LimitNOFILE=) to serve more")
			maxConns = fit
		}
	}
	srv, err := eventloop.New(eventloop.Config{
		Listeners:             listeners(&d.cfg, d.tlsFactory()),
		Loops:                 d.cfg.Loops,
		Engines:               d.tlsFactory(),
		Session:               d.cfg.Session,
		WorkTimeout:           d.cfg.WorkTimeout,
		OtherTimeout:          d.cfg.OtherTimeout,
		HandshakeTimeout:      d.cfg.HandshakeTimeout,
		MaxConns:              maxConns,
		MaxConnsPerIP:         d.cfg.MaxConnsPerIP,
		FailedHandshakesPerIP: d.cfg.FailedHandshakesPerIP,
		MaxBufferedBytes:      d.cfg.MaxBufferedBytes,
		DrainTimeout:          d.cfg.DrainTimeout,
		ShedDelay:             d.cfg.ShedDelay,
		ReusePort:             d.cfg.ReusePort,
		ProxyFrom:             d.cfg.ProxyProtocolFrom,
		Logger:                d.log,
		Metrics:               d.met,
		OnRecord:              onRecord,
		Identities:            d.ids,
		Steps:                 d.ref.observer(),
	})
	if err != nil {
		return err
	}
	d.srv = srv
	if d.admin != nil {
		go func() {
			if err := d.admin.Serve(); err != nil {
				d.log.Error().Err(err).Msg("metrics endpoint stopped")
			}
		}()
		defer func() {
			d.monitor.Close() // ends the monitor's event streams, which Shutdown would wait for
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = d.admin.Shutdown(sctx)
		}()
	}

	runCtx, stopAux := context.WithCancel(ctx)
	defer stopAux()
	go d.announce(runCtx)
	if d.cfg.CertWatchInterval > 0 && d.tlsCtx != nil {
		go d.watchCertificates(runCtx, d.cfg.CertWatchInterval)
	}

	err = srv.Run(ctx)
	if d.tlsCtx != nil {
		d.tlsCtx.Close() // every connection is gone: end the idle handshake coroutines
	}
	stopAux()
	if d.admin != nil {
		d.admin.SetReady(false)
	}
	if err != nil {
		return err
	}
	d.log.Info().Msg("tlslpd stopped")
	return nil
}

// missingDefaultCertificate reports whether err is about a certificate,
// key or CA file missing at its default path, the one `tlslpd certs`
// writes.
func missingDefaultCertificate(err error) bool {
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	def := config.Defaults()
	return pe.Path == def.ServerCert || pe.Path == def.ServerKey || pe.Path == def.CACert
}

// served reports whether Run got as far as binding its listeners.
func (d *Daemon) served() bool {
	if d.srv == nil {
		return false
	}
	select {
	case <-d.srv.Ready():
		return true
	default:
		return false
	}
}

// tlsFactory is the TLS server as the listeners' engine factory; nil (not
// a typed nil) when no listener serves TLS.
func (d *Daemon) tlsFactory() transport.Factory {
	if d.tlsCtx == nil {
		return nil
	}
	return d.tlsCtx
}

// announce reports readiness once bound, then runs the status line and the
// systemd watchdog until the server stops; on ctx's end it says STOPPING.
func (d *Daemon) announce(ctx context.Context) {
	select {
	case <-d.srv.Ready():
	case <-ctx.Done():
		return
	}
	mode := "mTLS"
	switch {
	case d.tlsCtx == nil:
		mode = "plain (no TLS listener)"
	case d.cfg.ClientAuth == tlsbridge.ClientAuthNone:
		mode = "insecure (no client certificates)"
	case d.cfg.ClientAuth == tlsbridge.ClientAuthAny:
		mode = "any client certificate (identified by fingerprint)"
	case d.cfg.ClientAuth == tlsbridge.ClientAuthOptional:
		mode = "optional client certificates (verified when shown)"
	}
	addrs := d.srv.Addrs()
	var bound []string
	for _, a := range addrs {
		bound = append(bound, a.String())
	}
	ev := d.log.Info().Strs("listen", bound).Strs("transports", listenNames(&d.cfg, addrs)).Str("mode", mode).
		Int("n_bits", d.cfg.Session.NBits).Bool("tutorial", d.cfg.Session.Tutorial)
	if d.admin != nil {
		ev = ev.Str("metrics", "http://"+d.admin.Addr().String()+"/metrics")
		d.admin.SetReady(true)
	}
	if d.records != nil {
		ev = ev.Str("records", d.cfg.Records)
	}
	ev.Msg("tlslpd serving")
	d.ref.listening(d.cfg, d.srv.Addrs())
	d.notify.ready()
	if d.Hooks.Started != nil {
		d.Hooks.Started(d.srv)
	}
	d.status(ctx)
	d.notify.stopping()
	if d.admin != nil {
		d.admin.SetReady(false) // draining: load balancers should look elsewhere
	}
}

// status logs a status line every StatusInterval and pets the watchdog.
func (d *Daemon) status(ctx context.Context) {
	var statusC, watchdogC <-chan time.Time
	if d.cfg.StatusInterval > 0 {
		t := time.NewTicker(d.cfg.StatusInterval)
		defer t.Stop()
		statusC = t.C
	}
	if every := d.notify.watchdogEvery(); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		watchdogC = t.C
	}
	last, lastAt, lastDropped := d.met.Snapshot(), time.Now(), d.dropped()
	for {
		select {
		case <-ctx.Done():
			return
		case <-watchdogC:
			d.notify.watchdog()
		case now := <-statusC:
			cur, dropped := d.met.Snapshot(), d.dropped()
			ev := d.log.Info()
			if dropped > lastDropped {
				// Lines were lost this interval: a slow or hung disk or
				// stderr. The same line, at a level alerts look at.
				ev = d.log.Warn()
			}
			d.statusFields(ev, last, cur, now.Sub(lastAt))
			ev.Msg("status")
			last, lastAt, lastDropped = cur, now, dropped
		}
	}
}

// dropped is how many records and log lines were lost so far.
func (d *Daemon) dropped() uint64 {
	var n uint64
	if d.records != nil {
		n += d.records.Dropped()
	}
	if d.logs != nil {
		n += d.logs.Dropped()
	}
	return n
}

// statusFieldNames lists what statusFields writes, in its order.
func statusFieldNames() []string {
	return []string{"connections_open", "sessions_active_hello", "sessions_active_work", "sessions_active_body", "sessions_active_done",
		"tls_handshakes_per_second", "pow_checks_per_second", "sessions_finished_per_second",
		"records_written", "records_dropped", "log_lines_dropped"}
}

// statusFields writes the status line: the same fields in the same order
// on every line, named after the metrics they come from; gauges and counts
// are integers, rates per second over the interval with one decimal.
func (d *Daemon) statusFields(e *zerolog.Event, last, cur metrics.Snapshot, interval time.Duration) {
	rate := func(delta float64) float64 {
		if interval <= 0 {
			return 0
		}
		return math.Round(10*delta/interval.Seconds()) / 10
	}
	e.Int64("connections_open", int64(cur.Open))
	for _, st := range []statemachine.State{statemachine.StateHello, statemachine.StateWork, statemachine.StateBody, statemachine.StateDone} {
		e.Int64("sessions_active_"+st.String(), int64(cur.Active[st.String()]))
	}
	e.Float64("tls_handshakes_per_second", rate(cur.Handshakes-last.Handshakes)).
		Float64("pow_checks_per_second", rate(cur.PoWChecks-last.PoWChecks)).
		Float64("sessions_finished_per_second", rate(cur.Finished-last.Finished)).
		Float64("connections_refused_per_second", rate(cur.Refused-last.Refused)).
		Float64("connections_shed_per_second", rate(cur.Shed-last.Shed)).
		Float64("tls_handshakes_failed_per_second", rate(cur.HandshakesFailed-last.HandshakesFailed))
	if d.records != nil {
		e.Uint64("records_written", d.records.Written()).Uint64("records_dropped", d.records.Dropped())
	}
	if d.logs != nil {
		e.Uint64("log_lines_dropped", d.logs.Dropped())
	}
}

// exitFlushTimeout bounds how long an exit waits for the records file: a
// hung disk must not keep the process from exiting.
const exitFlushTimeout = 5 * time.Second

// within runs f and waits at most d for it; f keeps running if it
// overstays (the process is about to exit).
func within(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("gave up after %s: the write did not return", d)
	}
}

func (d *Daemon) closeRecords() {
	if d.records == nil {
		return
	}
	// Close gives up on a hung disk by itself (records.DefaultCloseTimeout).
	if err := d.records.Close(); err != nil {
		d.log.Error().Err(err).Uint64("records_dropped", d.records.Dropped()).Msg("closing records file")
		return
	}
	d.log.Info().Uint64("records_written", d.records.Written()).Uint64("records_dropped", d.records.Dropped()).Msg("records file closed")
}

// Exists reports whether path exists (used by `tlslpd certs --if-missing`).
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
