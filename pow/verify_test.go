package pow

import (
	"crypto/sha256"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/protocol"
)

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestVerifierMatchesOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		name  string
		token string
	}{
		{"default token", protocol.DefaultToken},
		{"AUTH", "AUTH"},
	}
	for _, n := range []int{0, 1, 55, 56, 63, 64, 65, 119, 127, 128, 200} {
		tests = append(tests, struct {
			name  string
			token string
		}{"len " + strconv.Itoa(n), string(randomBytes(rng, n))})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := NewVerifier(tc.token)
			for i := range 300 {
				// Lengths span one and two trailing blocks after the token.
				suffix := randomBytes(rng, rng.IntN(130))
				want := sha256.Sum256([]byte(tc.token + string(suffix)))
				var got [32]byte
				v.Sum(suffix, &got)
				require.Equal(t, want, got, "suffix %d %q", i, suffix)
				for n := -1; n <= MaxBits+1; n++ {
					require.Equal(t, Valid(tc.token, string(suffix), n), v.Check(suffix, n), "suffix %q n %d", suffix, n)
				}
			}
		})
	}
}

// TestVerifierAcceptsOnlyAtThreshold uses suffixes that really meet a
// difficulty (found by brute force with the oracle, not the code under
// test), so that the true branch of Check is exercised, not just the
// overwhelmingly common false one.
func TestVerifierAcceptsOnlyAtThreshold(t *testing.T) {
	tests := []struct {
		token string
		nBits int
	}{
		{"AUTH", 8},
		{protocol.DefaultToken, 10},
		{strings.Repeat("x", 63), 6},
		{"", 4},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(len(tc.token))+"/"+strconv.Itoa(tc.nBits), func(t *testing.T) {
			v := NewVerifier(tc.token)
			var suffix string
			var tz int
			for i := 0; tz < tc.nBits; i++ {
				suffix = "s" + strconv.Itoa(i)
				tz = bigTrailingZeros(sha256.Sum256([]byte(tc.token + suffix)))
			}
			for n := 0; n <= MaxBits; n++ {
				assert.Equal(t, n <= tz, v.Check([]byte(suffix), n), "n %d, trailing zeros %d", n, tz)
			}
		})
	}
}

// TestWorkedExample is PROTOCOL.md's example: for token AUTH and n_bits 8 a
// suffix s is valid exactly when SHA256("AUTH"+s)[31] == 0.
func TestWorkedExample(t *testing.T) {
	sol, err := Solve(t.Context(), "AUTH", 8, 1)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("AUTH" + sol.Suffix))
	assert.Equal(t, byte(0), sum[31])
	assert.True(t, NewVerifier("AUTH").Check([]byte(sol.Suffix), 8))

	// And a suffix whose last digest byte is not zero is rejected.
	for i := 0; ; i++ {
		s := strconv.Itoa(i)
		if sum := sha256.Sum256([]byte("AUTH" + s)); sum[31] != 0 {
			assert.False(t, NewVerifier("AUTH").Check([]byte(s), 8))
			assert.False(t, Valid("AUTH", s, 8))
			break
		}
	}
}

func TestVerifierCheckDoesNotAllocate(t *testing.T) {
	v := NewVerifier(protocol.DefaultToken)
	suffix := []byte("abcdefghijkl")
	var out [32]byte
	tests := []struct {
		name string
		fn   func()
	}{
		{"Check", func() { v.Check(suffix, 28) }},
		{"Sum", func() { v.Sum(suffix, &out) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(1000, tc.fn))
		})
	}
}

func FuzzVerifier(f *testing.F) {
	f.Add("AUTH", []byte("abc"), int8(8))
	f.Add(protocol.DefaultToken, []byte("abcdefghijkl"), int8(28))
	f.Add("", []byte{}, int8(0))
	f.Add(strings.Repeat("t", 63), []byte("\x00\xff\n "), int8(64))
	f.Add("x", []byte("y"), int8(-1))
	f.Add("x", []byte("y"), int8(65))
	f.Fuzz(func(t *testing.T, token string, suffix []byte, nBits int8) {
		v := NewVerifier(token)
		n := int(nBits)
		require.Equal(t, Valid(token, string(suffix), n), v.Check(suffix, n))
		// A Verifier is reused across checks: the second one must not see
		// state left by the first.
		require.Equal(t, Valid(token, string(suffix), n&63), v.Check(suffix, n&63))
		if n < 0 || n > MaxBits {
			require.False(t, v.Check(suffix, n))
		}
		var got [32]byte
		v.Sum(suffix, &got)
		require.Equal(t, sha256.Sum256([]byte(token+string(suffix))), got)
	})
}
