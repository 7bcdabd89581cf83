package testproto

import (
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// stub fails as a test would, ending the goroutine at FailNow.
type stub struct{ failed bool }

func (s *stub) Helper()               {}
func (s *stub) Errorf(string, ...any) { s.failed = true }
func (s *stub) FailNow()              { runtime.Goexit() }

func TestWeakSuffixFailsWhenEverySuffixMeets(t *testing.T) {
	s := &stub{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		WeakSuffix(s, "AUTH", 0) // 0 bits: every suffix meets them
	}()
	<-done
	assert.True(t, s.failed)
}

func TestChecksum(t *testing.T) {
	sum := sha256.Sum256([]byte("AUTHLGTk"))
	require.Equal(t, hex.EncodeToString(sum[:]), Checksum("AUTH", "LGTk"))
	assert.Len(t, Checksum("", ""), 64)
}
