package loadgen

import "time"

// WithSampleHook makes the run call f with every completed session's
// latency, for tests that check percentiles against the raw samples.
func WithSampleHook(cfg *Config, f func(time.Duration)) { cfg.onSample = f }
