package pow

import (
	"context"
	"crypto/sha256"
	"runtime"
	"strconv"
	"testing"
	"time"

	"tlslpd/protocol"
)

// Sinks keep the compiler from discarding the benchmarked work.
var (
	sinkBool bool
	sinkSum  [32]byte
)

const benchSuffix = "abcdefghijkl" // 12 bytes: 64 + 12 = 76 bytes hashed

func BenchmarkSHA256Plain76(b *testing.B) {
	buf := []byte(protocol.DefaultToken + benchSuffix)
	b.ReportAllocs()
	for b.Loop() {
		sinkSum = sha256.Sum256(buf)
	}
}

func BenchmarkVerifyPoW(b *testing.B) {
	v := NewVerifier(protocol.DefaultToken)
	suffix := []byte(benchSuffix)
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = v.Check(suffix, protocol.DefaultNBits)
	}
}

// BenchmarkVerifyPoWRatio times Check and a plain Sum256 over the same 76
// bytes in alternating slices of one run, so that load from other
// processes hits both alike, and reports Check's cost as a fraction of the
// plain hash (the target is <= 0.8).
func BenchmarkVerifyPoWRatio(b *testing.B) {
	v := NewVerifier(protocol.DefaultToken)
	suffix := []byte(benchSuffix)
	buf := []byte(protocol.DefaultToken + benchSuffix)
	const slice = 1000
	var tCheck, tPlain time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		for range slice {
			sinkBool = v.Check(suffix, protocol.DefaultNBits)
		}
		t1 := time.Now()
		for range slice {
			sinkSum = sha256.Sum256(buf)
		}
		tCheck += t1.Sub(t0)
		tPlain += time.Since(t1)
	}
	b.ReportMetric(float64(tCheck)/float64(tPlain), "x-of-sha256")
	b.ReportMetric(float64(tCheck.Nanoseconds())/float64(b.N*slice), "ns/check")
	b.ReportMetric(float64(tPlain.Nanoseconds())/float64(b.N*slice), "ns/sha256")
}

// BenchmarkSolve solves the default-length token at n_bits 16 (~65k hashes
// expected); a different token each op keeps the work random.
func BenchmarkSolve(b *testing.B) {
	for _, workers := range workerCounts() {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			benchSolve(b, 16, workers, true)
		})
	}
}

// BenchmarkSolveTiny is the load generator's case: n_bits 4, many times a
// second, where per-call overhead dominates.
func BenchmarkSolveTiny(b *testing.B) {
	for _, workers := range workerCounts() {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			benchSolve(b, 4, workers, false)
		})
	}
}

// perCore is false for puzzles solved before Solve starts extra workers,
// where dividing by the worker count would understate the rate.
func benchSolve(b *testing.B, nBits, workers int, perCore bool) {
	ctx := context.Background()
	tokens := make([]string, 64)
	for i := range tokens {
		tokens[i] = protocol.DefaultToken[:60] + strconv.Itoa(1000+i)
	}
	var hashes uint64
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sol, err := Solve(ctx, tokens[i%len(tokens)], nBits, workers)
		if err != nil {
			b.Fatal(err)
		}
		hashes += sol.Hashes
		i++
	}
	secs := b.Elapsed().Seconds()
	if perCore {
		b.ReportMetric(float64(hashes)/secs/float64(workers), "hashes/s/core")
	}
	b.ReportMetric(float64(hashes)/float64(b.N), "hashes/op")
}

// BenchmarkSearchRate is the raw single-goroutine candidate rate, without
// the luck of when a solution turns up (n_bits 64 never succeeds here).
func BenchmarkSearchRate(b *testing.B) {
	const perOp = 1 << 12
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SolveFrom(protocol.DefaultToken, 64, 0, perOp); err == nil {
			b.Fatal("found a 64-bit solution by accident")
		}
	}
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "hashes/s")
}

func workerCounts() []int {
	if n := runtime.GOMAXPROCS(0); n > 1 {
		return []int{1, n}
	}
	return []int{1}
}
