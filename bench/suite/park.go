package suite

import (
	"context"
	"errors"
	"fmt"
	"time"
	"tlslpd/bench/loadgen"
)

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

	parked := make(chan struct{})
	cfg = r.loadConfig(s)
	cfg.Park = r.opt.Park
	cfg.Hold = r.opt.Hold
	cfg.WorkTimeout = time.Duration(r.opt.ParkWorkTimeout) * time.Second
	cfg.OnParked = func(int, int) { close(parked) }
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
	case <-parked:
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
