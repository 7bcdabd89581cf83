package testproto

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"tlslpd/pow"
)

// T is what the helpers need of a test: *testing.T, or a stand-in for
// goroutines that must not end the test.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

// maxTries bounds the search for a suffix: enough for 24 bits.
const maxTries = 1 << 28

// Suffix is a WORK suffix that meets nBits for token.
func Suffix(t T, token string, nBits int) string {
	t.Helper()
	for i := range maxTries {
		s := "s" + strconv.Itoa(i)
		if pow.Valid(token, s, nBits) {
			return s
		}
	}
	t.Errorf("testproto: no suffix meets %d bits for %q", nBits, token)
	t.FailNow()
	return ""
}

// WeakSuffix is a WORK suffix that does not meet nBits for token (most
// do not, for nBits above 0).
func WeakSuffix(t T, token string, nBits int) string {
	t.Helper()
	for i := range 1000 {
		s := "w" + strconv.Itoa(i)
		if !pow.Valid(token, s, nBits) {
			return s
		}
	}
	t.Errorf("testproto: every suffix meets %d bits for %q", nBits, token)
	t.FailNow()
	return ""
}

// Checksum is what a body reply starts with: the hex SHA-256 of the token
// and the random string.
func Checksum(token, random string) string {
	sum := sha256.Sum256([]byte(token + random))
	return hex.EncodeToString(sum[:])
}
