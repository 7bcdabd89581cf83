package loadgen

import (
	"os"
	"path/filepath"
)

// SameFile reports whether the paths a and b name one file: the same path
// once made absolute, or, when both exist, the same inode (a link). Output
// paths are checked with it before anything is created, so an output never
// truncates an input or another output.
func SameFile(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	aa, errA := filepath.Abs(a)
	ab, errB := filepath.Abs(b)
	if errA == nil && errB == nil && aa == ab {
		return true
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}
