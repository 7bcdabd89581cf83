package suite

import (
	"context"
	"fmt"
	"tlslpd/bench/verify"
)

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
