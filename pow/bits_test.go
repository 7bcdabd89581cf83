package pow

import (
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// digestWithBit returns a digest whose only set bit is bit p counted from
// the least significant end of the big-endian number.
func digestWithBit(p int) *[32]byte {
	var d [32]byte
	d[31-p/8] = 1 << (p % 8)
	return &d
}

func TestTrailingZeroBits(t *testing.T) {
	allOnes := [32]byte{}
	for i := range allOnes {
		allOnes[i] = 0xff
	}
	lastByte80 := [32]byte{31: 0x80}
	firstByte80 := [32]byte{0: 0x80}
	byte23 := [32]byte{23: 0x10, 0: 0xff}
	tests := []struct {
		name string
		sum  *[32]byte
		want int
	}{
		{"all zero", &[32]byte{}, 256},
		{"all ones", &allOnes, 0},
		{"0x80 in last byte", &lastByte80, 7},
		{"0x80 in first byte", &firstByte80, 255},
		{"bit 4 of byte 23 across the 64-bit word edge", &byte23, 8*8 + 4},
	}
	for _, p := range []int{0, 1, 7, 8, 9, 27, 28, 63, 64, 65, 127, 128, 200, 255} {
		tests = append(tests, struct {
			name string
			sum  *[32]byte
			want int
		}{name: "single bit " + strconv.Itoa(p), sum: digestWithBit(p), want: p})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, TrailingZeroBits(tc.sum))
		})
	}
}

func TestTrailingZeroBitsMatchesBigInt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var d [32]byte
		for i := range d {
			d[i] = byte(rng.Uint32())
		}
		// Clear a random number of low bytes so large counts occur too.
		for i := 31; i > 31-rng.IntN(33) && i >= 0; i-- {
			d[i] = 0
		}
		require.Equal(t, bigTrailingZeros(d), TrailingZeroBits(&d), "digest %x", d)
	}
}

func TestMeets(t *testing.T) {
	tests := []struct {
		name  string
		sum   *[32]byte
		nBits int
		want  bool
	}{
		{"zero bits accepts anything", digestWithBit(0), 0, true},
		{"bit 0 set fails 1", digestWithBit(0), 1, false},
		{"bit 8 set meets 8", digestWithBit(8), 8, true},
		{"bit 8 set fails 9", digestWithBit(8), 9, false},
		{"bit 63 set meets 63", digestWithBit(63), 63, true},
		{"bit 63 set fails 64", digestWithBit(63), 64, false},
		{"bit 64 set meets 64", digestWithBit(64), 64, true},
		{"all zero meets 64", &[32]byte{}, 64, true},
		{"negative fails closed", &[32]byte{}, -1, false},
		{"65 fails closed", &[32]byte{}, 65, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Meets(tc.sum, tc.nBits))
		})
	}
}

func TestMeetsAgreesWithTrailingZeroBits(t *testing.T) {
	for p := range 256 {
		for n := 0; n <= MaxBits; n++ {
			require.Equal(t, TrailingZeroBits(digestWithBit(p)) >= n, Meets(digestWithBit(p), n), "bit %d, n %d", p, n)
		}
	}
}

func TestValidateBits(t *testing.T) {
	tests := []struct {
		nBits int
		bad   bool
	}{
		{-1, true}, {0, false}, {1, false}, {28, false}, {64, false}, {65, true}, {1 << 40, true},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.nBits), func(t *testing.T) {
			err := ValidateBits(tc.nBits)
			if tc.bad {
				require.ErrorIs(t, err, ErrBadBits)
				assert.Contains(t, err.Error(), strconv.Itoa(tc.nBits))
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// bigTrailingZeros is an independent oracle for TrailingZeroBits.
func bigTrailingZeros(sum [32]byte) int {
	n := new(big.Int).SetBytes(sum[:])
	if n.Sign() == 0 {
		return 256
	}
	return int(n.TrailingZeroBits())
}
