package suite

import (
	"context"
	"fmt"
	"math"
	"net"
	"strconv"
	"time"

	"tlslpd/bench/leanclient"
	"tlslpd/bench/loadgen"
)

// Transport names in the transports section's rows.
const (
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

// powChecksMetric is tlslpd's counter of WORK suffix checks.
const powChecksMetric = "tlslpd_pow_checks_total"

// TransportsRow is one server over one transport in the transports
// section: the sessions test's figures, with the server's CPU split into
// user and system time, and for tlslpd the PoW checks it counted.
type TransportsRow struct {
	Transport string `json:"transport"`
	SessionsRow
	// The server's CPU time apart and its read and write system calls
	// over the windows.
	ProcCounters
	// PoWChecks is the rise of tlslpd_pow_checks_total over the windows;
	// zero for the baseline, which counts none.
	PoWChecks uint64 `json:"pow_checks,omitempty"`
}

func (r *TransportsRow) add(o TransportsRow) {
	r.SessionsRow.add(o.SessionsRow)
	r.ProcCounters.Add(o.ProcCounters)
	r.PoWChecks += o.PoWChecks
}

// CPUMicros, UserMicros and SystemMicros are server CPU µs per session.
func (r TransportsRow) CPUMicros() float64 { return div(1e6*r.CPUSeconds, float64(r.Sessions())) }

func (r TransportsRow) UserMicros() float64 { return div(1e6*r.UserSeconds, float64(r.Sessions())) }

func (r TransportsRow) SystemMicros() float64 { return div(1e6*r.SystemSeconds, float64(r.Sessions())) }

// transportServer is one server of the section and what its rows are
// called.
type transportServer struct {
	kind      serverKind
	name      string
	transport string
}

// transportServers are the section's servers, in the order of a round:
// plain TCP first, then the same servers over (mutual) TLS.
var transportServers = []transportServer{
	{kindTlslpdPlain, NameTlslpd, TransportTCP},
	{kindBaselinePlain, NameBaseline, TransportTCP},
	{kindTlslpdQuietPlain, NameTlslpdQuiet, TransportTCP},
	{kindTlslpd, NameTlslpd, TransportTLS},
	{kindBaseline, NameBaseline, TransportTLS},
}

// transports: sessions over plain TCP and over mTLS, tlslpd and the
// baseline, played by bench/leanclient (the cheapest correct client, so
// the machine's CPU goes to the servers). As in the sessions test the
// servers run throughout and take turns, one window each per round, the
// order alternating.
func (r *runner) transports(ctx context.Context) error {
	servers := map[serverKind]*server{}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	kinds := make([]serverKind, len(transportServers))
	byKind := map[serverKind]transportServer{}
	for i, ts := range transportServers {
		kinds[i], byKind[ts.kind] = ts.kind, ts
		s, err := r.start(ctx, ts.kind, 60)
		if err != nil {
			return fmt.Errorf("start %s: %w", ts.kind, err)
		}
		servers[ts.kind] = s
		if res, err := leanclient.Run(ctx, r.leanConfig(s, ts.transport, r.opt.Warmup)); err != nil {
			return fmt.Errorf("%s warm-up: %w", ts.kind, err)
		} else if res.Sessions() == 0 {
			return fmt.Errorf("%s warm-up: no session ended normally (%d errors, e.g. %s); log: %s", ts.kind, res.Errors, res.ErrSample, s.c.logTail())
		}
	}
	rows := map[serverKind]*TransportsRow{}
	for round := range r.opt.TransportRounds {
		for _, k := range roundOrder(round, kinds...) {
			ts := byKind[k]
			row, err := r.transportsWindow(ctx, servers[k], ts)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", k, round+1, err)
			}
			r.logf("round %d %s over %s: %d sessions (%d errors) in %.1fs = %.0f/s, server CPU %.1f µs/session (user %.1f, system %.1f), machine idle %.0f%%",
				round+1, ts.name, ts.transport, row.Sessions(), row.Errors, row.Seconds, row.PerSecond(), row.CPUMicros(), row.UserMicros(), row.SystemMicros(), 100*row.IdleShare())
			acc := rows[k]
			if acc == nil {
				acc = &TransportsRow{Transport: ts.transport, SessionsRow: SessionsRow{Server: ts.name, Workers: row.Workers}, ProcCounters: ProcCounters{IOKnown: true}}
				rows[k] = acc
			}
			acc.add(row)
		}
	}
	for _, k := range kinds {
		r.report.Transports = append(r.report.Transports, *rows[k])
	}
	return nil
}

// leanConfig is the section's client for server s.
func (r *runner) leanConfig(s *server, transport string, d time.Duration) leanclient.Config {
	cfg := leanclient.Config{
		Addr:       net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Workers:    r.opt.TransportWorkers,
		Duration:   d,
		Timeout:    60 * time.Second,
		LocalAddrs: loadgen.SourceAddrs("127.0.0.1", r.opt.SourceIPs),
	}
	if transport == TransportTLS {
		cfg.TLS = r.client
	}
	return cfg
}

// transportsWindow runs one window against a running, warmed-up server.
// The PoW counter is scraped outside the CPU readings, so the scrape's
// own cost stays out of the figures.
func (r *runner) transportsWindow(ctx context.Context, s *server, ts transportServer) (TransportsRow, error) {
	counted := ts.name != NameBaseline
	var checks0, checks1 float64
	var err error
	if counted {
		if checks0, err = Sum(ctx, r.scrape, s.metricsAddr, powChecksMetric); err != nil {
			return TransportsRow{}, err
		}
	}
	before, err := r.sample(s)
	if err != nil {
		return TransportsRow{}, err
	}
	machineBefore, err := r.proc.Machine()
	if err != nil {
		return TransportsRow{}, err
	}
	res, err := leanclient.Run(ctx, r.leanConfig(s, ts.transport, r.opt.Duration))
	if err != nil {
		return TransportsRow{}, fmt.Errorf("load: %w", err)
	}
	machineAfter, err := r.proc.Machine()
	if err != nil {
		return TransportsRow{}, err
	}
	after, err := r.sample(s)
	if err != nil {
		return TransportsRow{}, err
	}
	if counted {
		if checks1, err = Sum(ctx, r.scrape, s.metricsAddr, powChecksMetric); err != nil {
			return TransportsRow{}, err
		}
	}
	machine := machineAfter.Since(machineBefore)
	row := TransportsRow{
		Transport: ts.transport,
		SessionsRow: SessionsRow{
			Server: ts.name, Workers: r.opt.TransportWorkers,
			Completed: res.Completed, Injected: res.Injected, Errors: res.Errors, ErrSample: res.ErrSample,
			Seconds: res.Seconds, CPUSeconds: after.CPUSeconds - before.CPUSeconds,
			MachineIdle: machine.Idle, MachineTotal: machine.Total,
		},
		ProcCounters: after.ProcCounters.Since(before.ProcCounters),
		PoWChecks:    uint64(max(0, checks1-checks0)),
	}
	if row.Errors > 0 {
		r.note("%s over %s, transports test: %d sessions ended in errors (e.g. %s)", ts.name, ts.transport, row.Errors, row.ErrSample)
	}
	return row, nil
}

func findTransport(rows []TransportsRow, name, transport string) (TransportsRow, bool) {
	for _, r := range rows {
		if r.Server == name && r.Transport == transport {
			return r, true
		}
	}
	return TransportsRow{}, false
}

func f1(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v)
}

// transportsCells are the section's table: each row against the baseline
// over the same transport, and against the same server over TLS.
func transportsCells(r *Report) [][]string {
	var rows [][]string
	for _, row := range r.Transports {
		rr, rc, perRound := math.NaN(), math.NaN(), "—"
		if base, ok := findTransport(r.Transports, NameBaseline, row.Transport); ok {
			rr, rc = Ratio(row.PerSecond(), base.PerSecond()), Ratio(row.CPUMicros(), base.CPUMicros())
			if row.Server != NameBaseline {
				perRound = spread(pairRatios(row.RoundCPU, base.RoundCPU))
			}
		}
		vsTLS := "—"
		if row.Transport != TransportTLS {
			if t, ok := findTransport(r.Transports, row.Server, TransportTLS); ok {
				vsTLS = FormatRatio(Ratio(row.CPUMicros(), t.CPUMicros()))
			}
		}
		calls := "n/a"
		if row.IOKnown {
			calls = f1(div(float64(row.ReadCalls), float64(row.Sessions()))) + " / " + f1(div(float64(row.WriteCalls), float64(row.Sessions())))
		}
		rows = append(rows, []string{row.Server, row.Transport, fmt.Sprint(row.Sessions()), fmt.Sprint(row.Errors),
			f0(row.PerSecond()), FormatRatio(rr), f1(row.CPUMicros()), f1(row.UserMicros()), f1(row.SystemMicros()), calls,
			FormatRatio(rc), perRound, vsTLS, percent(row.IdleShare())})
	}
	return rows
}

// transportsView is what the section's prose quotes besides the table.
type transportsView struct {
	Rows [][]string
	// PoW: tlslpd's own count of checks over plain TCP.
	PoW *transportsPoW
	// Kernel: system time against half the baseline's CPU over plain TCP.
	Kernel *transportsKernel
}

type transportsPoW struct {
	Checks      uint64
	PerSecond   string
	PerSession  string // checks per session (1.00 when every session made one)
	CPUPerCheck string // server µs per check, its session included
	// VerifyMicros and Share: the verifier alone (section 3, one core)
	// and its share of CPUPerCheck; empty without section 3.
	VerifyMicros, Share string
}

type transportsKernel struct {
	TlslpdSystem, TlslpdUser, BaselineSystem, BaselineUser, HalfBaseline string
	// Exceeds: tlslpd's system time per session alone is above half the
	// baseline's CPU per session.
	Exceeds bool
}

func transportsCellsView(r *Report) *transportsView {
	if len(r.Transports) == 0 {
		return nil
	}
	v := &transportsView{Rows: transportsCells(r)}
	t, okT := findTransport(r.Transports, NameTlslpd, TransportTCP)
	if okT && t.PoWChecks > 0 {
		p := &transportsPoW{Checks: t.PoWChecks, PerSecond: f0(div(float64(t.PoWChecks), t.Seconds)),
			PerSession:  fmt.Sprintf("%.2f", div(float64(t.PoWChecks), float64(t.Sessions()))),
			CPUPerCheck: f1(div(1e6*t.CPUSeconds, float64(t.PoWChecks)))}
		if r.PoW != nil && r.PoW.VerifyOne.PerSecond > 0 {
			us := 1e6 / r.PoW.VerifyOne.PerSecond
			p.VerifyMicros = fmt.Sprintf("%.2f", us)
			p.Share = percent(div(us*float64(t.PoWChecks), 1e6*t.CPUSeconds))
		}
		v.PoW = p
	}
	if b, okB := findTransport(r.Transports, NameBaseline, TransportTCP); okT && okB {
		half := b.CPUMicros() / 2
		v.Kernel = &transportsKernel{TlslpdSystem: f1(t.SystemMicros()), TlslpdUser: f1(t.UserMicros()),
			BaselineSystem: f1(b.SystemMicros()), BaselineUser: f1(b.UserMicros()), HalfBaseline: f1(half),
			Exceeds: t.SystemMicros() > half}
	}
	return v
}
