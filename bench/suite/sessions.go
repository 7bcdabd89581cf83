package suite

import (
	"context"
	"fmt"
	"tlslpd/bench/loadgen"
	"tlslpd/protocol"
)

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
