package pow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// MaxBits is the largest n_bits the package accepts. It mirrors
// protocol.MaxNBits; the verifier reads only the last 64 bits of the digest,
// so a larger value could not be honoured by the fast path anyway.
const MaxBits = 64

// ErrBadBits is returned (wrapped) for an n_bits outside 0..MaxBits.
var ErrBadBits = errors.New("pow: n_bits out of range 0..64")

// ValidateBits reports whether nBits is a difficulty the package supports,
// so that callers can reject a bad configuration before any session starts.
func ValidateBits(nBits int) error {
	if nBits < 0 || nBits > MaxBits {
		return fmt.Errorf("n_bits %d: %w", nBits, ErrBadBits)
	}
	return nil
}

// TrailingZeroBits returns the number of trailing zero bits of the digest
// read as a 256-bit big-endian number (0..256).
func TrailingZeroBits(sum *[32]byte) int {
	n := 0
	for i := 24; i >= 0; i -= 8 {
		w := binary.BigEndian.Uint64(sum[i:])
		if w != 0 {
			return n + bits.TrailingZeros64(w)
		}
		n += 64
	}
	return n
}

// Meets reports whether the digest ends in at least nBits zero bits. An
// nBits outside 0..MaxBits never meets: the check fails closed rather than
// accepting a suffix against a difficulty nobody could have asked for.
func Meets(sum *[32]byte, nBits int) bool {
	return meetsTail(binary.BigEndian.Uint64(sum[24:]), nBits)
}

// meetsTail is Meets on the last 8 digest bytes already read as a
// big-endian uint64; TrailingZeros64(0) is 64, which makes nBits 64 work.
func meetsTail(tail uint64, nBits int) bool {
	return uint(nBits) <= MaxBits && bits.TrailingZeros64(tail) >= nBits
}
