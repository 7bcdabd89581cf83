package suite

import (
	"context"
	"fmt"
	"os/exec"

	"tlslpd/bench/loadgen"
)

// maxCoreCount is the largest server core count the cores section tries.
const maxCoreCount = 6

// CoresRow is one server on Cores dedicated CPUs, with the load generator
// on the others.
type CoresRow struct {
	Cores int `json:"cores"`
	SessionsRow
}

// cores measures tlslpd and the baseline pinned to k CPUs each in turn
// (k = 1 up to 6, while the load generator keeps at least as many), so
// sessions/s and CPU per session can be read per core count. On a
// machine with fewer than 4 CPUs nothing can be pinned and the section
// says so instead of measuring.
func (r *runner) cores(ctx context.Context) error {
	allowed, err := allowedCPUs()
	if err != nil {
		return err
	}
	taskset, _ := exec.LookPath("taskset")
	if r.opt.NoPin {
		r.report.Skipped = append(r.report.Skipped, "cores: --no-pin")
		return nil
	}
	if p := planCPUs(allowed, taskset); !p.pinned() {
		r.report.Skipped = append(r.report.Skipped, "cores: "+p.why)
		return nil
	}
	saved := r.cpus
	defer func() {
		r.cpus = saved
		_ = saved.pinSelf()
	}()
	for k := 1; k <= min(maxCoreCount, len(allowed)/2); k++ {
		plan := cpuPlan{server: allowed[len(allowed)-k:], load: allowed[:len(allowed)-k], taskset: taskset}
		if err := plan.pinSelf(); err != nil {
			return err
		}
		r.cpus = plan
		rows, err := r.coresAt(ctx, k)
		if err != nil {
			return fmt.Errorf("%d cores: %w", k, err)
		}
		r.report.Cores = append(r.report.Cores, rows...)
	}
	return nil
}

// coresAt starts tlslpd (default loops: one per CPU it may use) and the
// baseline on the current plan's server CPUs and gives them turns.
func (r *runner) coresAt(ctx context.Context, k int) ([]CoresRow, error) {
	kinds := []serverKind{kindTlslpd, kindBaseline}
	servers := map[serverKind]*server{}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, kind := range kinds {
		s, err := r.start(ctx, kind, 60)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", kind, err)
		}
		servers[kind] = s
		cfg := r.loadConfig(s)
		cfg.Workers, cfg.Duration = r.opt.Workers, r.opt.Warmup
		if _, err := loadgen.Run(ctx, cfg); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", kind, err)
		}
	}
	acc := map[serverKind]*SessionsRow{}
	for round := range r.opt.CoreRounds {
		for _, kind := range roundOrder(round, kinds...) {
			row, err := r.sessionsWindow(ctx, servers[kind], r.opt.Workers)
			if err != nil {
				return nil, fmt.Errorf("%s round %d: %w", kind, round+1, err)
			}
			r.logf("%d cores, round %d %s: %.0f sessions/s, server CPU %.3f ms/session", k, round+1, row.Server, row.PerSecond(), row.CPUPerSession())
			if acc[kind] == nil {
				acc[kind] = &SessionsRow{Server: row.Server, Workers: row.Workers}
			}
			acc[kind].add(row)
		}
	}
	var out []CoresRow
	for _, kind := range kinds {
		out = append(out, CoresRow{Cores: k, SessionsRow: *acc[kind]})
	}
	return out, nil
}

// coresCells are the cores table: one line per core count, tlslpd beside
// the baseline.
func coresCells(r *Report) [][]string {
	var out [][]string
	for _, row := range r.Cores {
		if row.Server == NameBaseline {
			continue
		}
		var base SessionsRow
		for _, b := range r.Cores {
			if b.Cores == row.Cores && b.Server == NameBaseline {
				base = b.SessionsRow
			}
		}
		out = append(out, []string{fmt.Sprint(row.Cores),
			f0(row.PerSecond()), f0(base.PerSecond()), FormatRatio(Ratio(row.PerSecond(), base.PerSecond())),
			f3(row.CPUPerSession()), f3(base.CPUPerSession()), FormatRatio(Ratio(row.CPUPerSession(), base.CPUPerSession())),
			fmt.Sprintf("%.1f", row.P99ms), fmt.Sprintf("%.1f", base.P99ms)})
	}
	return out
}
