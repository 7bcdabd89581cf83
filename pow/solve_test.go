package pow

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/protocol"
)

func requireWireSafe(t *testing.T, suffix string) {
	t.Helper()
	require.NotEmpty(t, suffix)
	require.LessOrEqual(t, len(suffix), 64)
	require.True(t, utf8.ValidString(suffix))
	for i := 0; i < len(suffix); i++ {
		c := suffix[i]
		require.Truef(t, c > ' ' && c < 0x7f, "byte %d of %q is not printable non-space ASCII", i, suffix)
	}
}

func TestSolve(t *testing.T) {
	tests := []struct {
		token   string
		nBits   int
		workers int
	}{
		{protocol.DefaultToken, 0, 1},
		{protocol.DefaultToken, 1, 1},
		{protocol.DefaultToken, 4, 0},
		{"AUTH", 8, 2},
		{"", 10, 1},
		{strings.Repeat("a", 45), 12, 2}, // counter still fits the last block
		{strings.Repeat("b", 46), 12, 2}, // first length that needs padding
		{strings.Repeat("c", 63), 12, 3},
		{strings.Repeat("d", 65), 12, 1},
		{strings.Repeat("e", 200), 12, 2},
		{protocol.DefaultToken, 16, 0},
		{"token-for-workers-4", 14, 4},
	}
	for _, tc := range tests {
		name := "len" + strconv.Itoa(len(tc.token)) + "/bits" + strconv.Itoa(tc.nBits) + "/w" + strconv.Itoa(tc.workers)
		t.Run(name, func(t *testing.T) {
			sol, err := Solve(t.Context(), tc.token, tc.nBits, tc.workers)
			require.NoError(t, err)
			requireWireSafe(t, sol.Suffix)
			assert.True(t, Valid(tc.token, sol.Suffix, tc.nBits), "suffix %q", sol.Suffix)
			assert.GreaterOrEqual(t, sol.Hashes, uint64(1))
			assert.Positive(t, sol.Elapsed)
		})
	}
}

func TestSolveTrivialTakesOneHash(t *testing.T) {
	sol, err := Solve(t.Context(), "AUTH", 0, 4)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), sol.Hashes)
}

// TestSearchLayout pins the property that makes solving cheap: after the
// midstate, every candidate (counter + SHA-256 padding) fits one block.
func TestSearchLayout(t *testing.T) {
	for n := range 200 {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			pad := searchPrefix(strings.Repeat("t", n))
			assert.LessOrEqual(t, (n+len(pad))%blockSize+counterDigits+padOverhead, blockSize)
			assert.Less(t, len(pad), blockSize)
		})
	}
}

func TestSearcherIncrementMatchesSeek(t *testing.T) {
	starts := []uint64{0, 62, 63, 64, 4095, 1<<36 - 1, 1<<60 - 5, math.MaxUint64 - 3, 123456789}
	for _, start := range starts {
		t.Run(strconv.FormatUint(start, 10), func(t *testing.T) {
			s := &searcher{}
			s.seek(start)
			ref := &searcher{}
			seen := map[string]bool{}
			for i := uint64(0); i < 130 && start+i >= start; i++ {
				ref.seek(start + i)
				require.Equal(t, string(ref.digits[:]), string(s.digits[:]))
				require.Equal(t, start+i, s.next)
				require.False(t, seen[string(s.digits[:])], "duplicate candidate")
				seen[string(s.digits[:])] = true
				s.increment()
			}
		})
	}
}

func TestDigitValueInvertsAlphabet(t *testing.T) {
	for i := range len(digitAlphabet) {
		require.Equal(t, i, digitValue(digitAlphabet[i]))
	}
}

func TestSolveFrom(t *testing.T) {
	tests := []struct {
		name      string
		nBits     int
		start     uint64
		limit     uint64
		wantErr   error
		maxHashes uint64
	}{
		{"finds", 8, 0, 1 << 20, nil, 1 << 20},
		{"finds from far start", 8, math.MaxUint64 / 2, 1 << 20, nil, 1 << 20},
		{"exhausts a tiny range", 64, 0, 100, ErrExhausted, 100},
		{"zero limit", 0, 5, 0, ErrExhausted, 0},
		{"bad bits", 65, 0, 10, ErrBadBits, 0},
		{"negative bits", -1, 0, 10, ErrBadBits, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sol, err := SolveFrom("AUTH", tc.nBits, tc.start, tc.limit)
			assert.LessOrEqual(t, sol.Hashes, tc.maxHashes)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.Empty(t, sol.Suffix)
				return
			}
			require.NoError(t, err)
			requireWireSafe(t, sol.Suffix)
			assert.True(t, Valid("AUTH", sol.Suffix, tc.nBits))
		})
	}
}

// TestSolveFromShardsAreDisjoint checks that the suffix is a pure function
// of the counter: two adjacent ranges find different first solutions and a
// range starting at a solution finds it in one hash.
func TestSolveFromShardsAreDisjoint(t *testing.T) {
	first, err := SolveFrom(protocol.DefaultToken, 6, 0, 1<<16)
	require.NoError(t, err)
	again, err := SolveFrom(protocol.DefaultToken, 6, first.Hashes-1, 1)
	require.NoError(t, err)
	assert.Equal(t, first.Suffix, again.Suffix)
	next, err := SolveFrom(protocol.DefaultToken, 6, first.Hashes, 1<<16)
	require.NoError(t, err)
	assert.NotEqual(t, first.Suffix, next.Suffix)
}

func TestSolveBadBits(t *testing.T) {
	for _, n := range []int{-1, 65, 1000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			_, err := Solve(t.Context(), "AUTH", n, 1)
			require.ErrorIs(t, err, ErrBadBits)
		})
	}
}

func TestSolveCancellation(t *testing.T) {
	tests := []struct {
		name    string
		workers int
		ctx     func(t *testing.T) context.Context
		want    error
	}{
		{"cancelled before start", 2, func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, context.Canceled},
		{"cancelled while running, 1 worker", 1, cancelAfter(30 * time.Millisecond), context.Canceled},
		{"cancelled while running, 3 workers", 3, cancelAfter(30 * time.Millisecond), context.Canceled},
		{"deadline", 2, func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			// 64 bits is out of reach in test time, so only ctx can end it.
			sol, err := Solve(tc.ctx(t), protocol.DefaultToken, 64, tc.workers)
			require.ErrorIs(t, err, tc.want)
			assert.False(t, errors.Is(err, ErrExhausted))
			assert.Empty(t, sol.Suffix)
			// Generous bound: the 2 shared cores may be busy with -race.
			assert.Less(t, time.Since(began), 2*time.Second)
		})
	}
}

func cancelAfter(d time.Duration) func(t *testing.T) context.Context {
	return func(t *testing.T) context.Context {
		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(d, cancel)
		t.Cleanup(func() { timer.Stop(); cancel() })
		return ctx
	}
}

func TestSolveCountedReportsEveryHash(t *testing.T) {
	var counter atomic.Uint64
	sol, err := SolveCounted(t.Context(), "AUTH", 16, 2, &counter)
	require.NoError(t, err)
	assert.Equal(t, sol.Hashes, counter.Load())
	assert.Positive(t, counter.Load())
}
