package verify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"tlslpd/pow"
	"tlslpd/protocol"
)

// SchemaVersion of the JSON Result.
const SchemaVersion = 1

// Sentinel errors.
var (
	ErrConfig = errors.New("invalid verify benchmark configuration")
	// ErrMismatch: the Verifier disagreed with a plain SHA-256 check, so
	// its throughput would be meaningless.
	ErrMismatch = errors.New("verifier disagrees with sha256")
)

// Config of a run. Zero values mean the defaults noted.
type Config struct {
	Token     string        // default protocol.DefaultToken
	SuffixLen int           // bytes per suffix, default 16
	NBits     int           // difficulty passed to Check; the cost does not depend on it
	Duration  time.Duration // per measurement, default 1s
	Rounds    int           // each measurement is repeated, best kept; default 2
	Workers   int           // goroutines for "all cores", default GOMAXPROCS
}

// Measurement is one timed loop.
type Measurement struct {
	Goroutines int     `json:"goroutines"`
	Ops        uint64  `json:"ops"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_s"`
	PerCore    float64 `json:"per_s_per_goroutine"`
}

// Result is the output and the stable `--json` document (schema_version 1).
type Result struct {
	SchemaVersion int         `json:"schema_version"`
	TokenLen      int         `json:"token_len"`
	SuffixLen     int         `json:"suffix_len"`
	NBits         int         `json:"n_bits"`
	GOMAXPROCS    int         `json:"gomaxprocs"`
	VerifyOne     Measurement `json:"verify_one_core"`
	VerifyAll     Measurement `json:"verify_all_cores"`
	SHA256One     Measurement `json:"sha256_one_core"`
	SHA256All     Measurement `json:"sha256_all_cores"`
	// Ratios are Verifier checks/s divided by sha256.Sum256/s: above 1 the
	// midstate saves more than the check costs.
	RatioOne float64 `json:"ratio_one_core"`
	RatioAll float64 `json:"ratio_all_cores"`
}

func (c *Config) normalise() error {
	if c.Token == "" {
		c.Token = protocol.DefaultToken
	}
	if c.SuffixLen == 0 {
		c.SuffixLen = 16
	}
	if c.Duration == 0 {
		c.Duration = time.Second
	}
	if c.Rounds == 0 {
		c.Rounds = 2
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case c.SuffixLen < 1 || c.SuffixLen > protocol.MaxLineLength:
		return fmt.Errorf("%w: suffix length %d outside 1..%d", ErrConfig, c.SuffixLen, protocol.MaxLineLength)
	case c.NBits < 0 || c.NBits > protocol.MaxNBits:
		return fmt.Errorf("%w: n_bits %d outside 0..%d", ErrConfig, c.NBits, protocol.MaxNBits)
	case c.Duration < 0 || c.Rounds < 0 || c.Workers < 0:
		return fmt.Errorf("%w: negative duration, rounds or workers", ErrConfig)
	}
	return nil
}

// Run checks the Verifier against sha256 on a sample, then measures.
// Cancelling ctx ends the current measurement early.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.normalise(); err != nil {
		return Result{}, err
	}
	if err := crossCheck(cfg); err != nil {
		return Result{}, err
	}
	res := Result{SchemaVersion: SchemaVersion, TokenLen: len(cfg.Token), SuffixLen: cfg.SuffixLen,
		NBits: cfg.NBits, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	// Alternating the loops within each round spreads the noise from
	// other processes evenly over verify and sha256.
	for range cfg.Rounds {
		for _, m := range []struct {
			dst *Measurement
			n   int
			op  func(cfg Config) func(batch int) uint64
		}{
			{&res.VerifyOne, 1, verifyLoop},
			{&res.SHA256One, 1, shaLoop},
			{&res.VerifyAll, cfg.Workers, verifyLoop},
			{&res.SHA256All, cfg.Workers, shaLoop},
		} {
			got := measure(ctx, cfg, m.n, m.op)
			if got.PerSecond > m.dst.PerSecond {
				*m.dst = got
			}
			if ctx.Err() != nil {
				return res, fmt.Errorf("verify benchmark: %w", ctx.Err())
			}
		}
	}
	if res.SHA256One.PerSecond > 0 {
		res.RatioOne = res.VerifyOne.PerSecond / res.SHA256One.PerSecond
	}
	if res.SHA256All.PerSecond > 0 {
		res.RatioAll = res.VerifyAll.PerSecond / res.SHA256All.PerSecond
	}
	return res, nil
}

// nextSuffix advances s as a decimal counter so every op hashes new bytes.
func nextSuffix(s []byte) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < '9' {
			s[i]++
			return
		}
		s[i] = '0'
	}
}

func newSuffix(n, seed int) []byte {
	s := make([]byte, n)
	for i := range s {
		s[i] = '0'
	}
	for i := 0; i < seed; i++ {
		nextSuffix(s)
	}
	return s
}

// verifyLoop returns a per-goroutine op that runs batch Checks and returns
// how many passed, so the compiler cannot drop the work.
func verifyLoop(cfg Config) func(batch int) uint64 {
	v := pow.NewVerifier(cfg.Token)
	suffix := newSuffix(cfg.SuffixLen, 0)
	return func(batch int) uint64 {
		var hits uint64
		for range batch {
			nextSuffix(suffix)
			if v.Check(suffix, cfg.NBits) {
				hits++
			}
		}
		return hits
	}
}

// shaLoop hashes the same token+suffix bytes from scratch each time.
func shaLoop(cfg Config) func(batch int) uint64 {
	buf := make([]byte, len(cfg.Token)+cfg.SuffixLen)
	copy(buf, cfg.Token)
	for i := len(cfg.Token); i < len(buf); i++ {
		buf[i] = '0'
	}
	suffix := buf[len(cfg.Token):]
	return func(batch int) uint64 {
		var hits uint64
		for range batch {
			nextSuffix(suffix)
			sum := sha256.Sum256(buf)
			if sum[31] == 0 {
				hits++
			}
		}
		return hits
	}
}

func measure(ctx context.Context, cfg Config, goroutines int, mk func(Config) func(int) uint64) Measurement {
	const batch = 512
	var (
		ops  atomic.Uint64
		sink atomic.Uint64
		wg   sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	for range goroutines {
		op := mk(cfg)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n, hits uint64
			for ctx.Err() == nil && time.Now().Before(deadline) {
				hits += op(batch)
				n += batch
			}
			ops.Add(n)
			sink.Add(hits)
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	m := Measurement{Goroutines: goroutines, Ops: ops.Load(), Seconds: secs}
	if secs > 0 {
		m.PerSecond = float64(m.Ops) / secs
		m.PerCore = m.PerSecond / float64(goroutines)
	}
	_ = sink.Load()
	return m
}

// crossCheck compares Check with sha256 on a sample at a low difficulty,
// where both outcomes occur.
func crossCheck(cfg Config) error {
	v := pow.NewVerifier(cfg.Token)
	suffix := newSuffix(cfg.SuffixLen, 0)
	const bits = 4
	for i := range 2000 {
		nextSuffix(suffix)
		sum := sha256.Sum256(append([]byte(cfg.Token), suffix...))
		want := sum[31]&0x0f == 0
		if got := v.Check(suffix, bits); got != want {
			return fmt.Errorf("%w: sample %d suffix %q n_bits %d: verifier %v, sha256 %v", ErrMismatch, i, suffix, bits, got, want)
		}
	}
	return nil
}
