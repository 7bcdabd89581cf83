package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Fingerprint is the SHA-256 of a certificate's DER encoding.
type Fingerprint [sha256.Size]byte

// Of returns the fingerprint of a DER-encoded certificate.
func Of(der []byte) Fingerprint { return sha256.Sum256(der) }

// String is the fingerprint as 64 lowercase hex digits, the form logs,
// records and list files use.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// ErrFingerprint is wrapped by ParseFingerprint's errors.
var ErrFingerprint = errors.New("not a SHA-256 fingerprint")

// ParseFingerprint reads 64 hex digits in either case, optionally with a
// "sha256:" (or "SHA256=") prefix and ':' between byte pairs, as
// `openssl x509 -fingerprint -sha256` prints them.
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	t := strings.TrimSpace(s)
	for _, p := range []string{"sha256:", "sha256="} {
		if len(t) > len(p) && strings.EqualFold(t[:len(p)], p) {
			t = t[len(p):]
			break
		}
	}
	if strings.Contains(t, ":") {
		t = strings.ReplaceAll(t, ":", "")
	}
	if len(t) != 2*len(f) {
		return f, fmt.Errorf("%w: %q has %d hex digits, want 64", ErrFingerprint, s, len(t))
	}
	if _, err := hex.Decode(f[:], []byte(t)); err != nil {
		return f, fmt.Errorf("%w: %q: %v", ErrFingerprint, s, err)
	}
	return f, nil
}
