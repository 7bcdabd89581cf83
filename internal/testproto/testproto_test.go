package testproto

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testfail"
	"tlslpd/pow"
)

func TestSuffixMeetsAndWeakSuffixMisses(t *testing.T) {
	for _, nBits := range []int{0, 1, 8, 12} {
		s := Suffix(t, "AUTH", nBits)
		assert.True(t, pow.Valid("AUTH", s, nBits), "%d bits: %q", nBits, s)
		if nBits > 0 {
			w := WeakSuffix(t, "AUTH", nBits)
			assert.False(t, pow.Valid("AUTH", w, nBits), "%d bits: %q", nBits, w)
		}
	}
	// Checked by hand too: a 12-bit suffix hashes to a digest that ends
	// in 12 zero bits (PROTOCOL.md: trailing bits).
	sum := sha256.Sum256([]byte("AUTH" + Suffix(t, "AUTH", 12)))
	assert.Zero(t, sum[31])
	assert.Zero(t, sum[30]&0x0f)
}

func TestWeakSuffixFailsWhenEverySuffixMeets(t *testing.T) {
	r := testfail.Run(t, func(tb testing.TB) { WeakSuffix(tb, "AUTH", 0) }) // 0 bits: every suffix meets them
	assert.True(t, r.Failed)
	assert.Contains(t, r.Message, "every suffix meets 0 bits")
}

func TestChecksum(t *testing.T) {
	sum := sha256.Sum256([]byte("AUTHLGTk"))
	require.Equal(t, hex.EncodeToString(sum[:]), Checksum("AUTH", "LGTk"))
	assert.Len(t, Checksum("", ""), 64)
}
