package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzList: any list file either loads or fails with one line naming the
// file (and line), never a panic; a fingerprint that parses prints back
// to the same value.
func FuzzList(f *testing.F) {
	f.Add([]byte("# c\n" + strings.Repeat("ab", 32) + " alice\n"))
	f.Add([]byte("sha256 Fingerprint=" + strings.Repeat("AB:", 31) + "AB\n"))
	f.Add([]byte("SHA256:" + strings.Repeat("0", 64) + "\n\n\t\n"))
	f.Add([]byte("zz\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "list")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		list, err := readList(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line naming the file", err)
			}
			return
		}
		for fp := range list {
			back, err := ParseFingerprint(fp.String())
			if err != nil || back != fp {
				t.Fatalf("%s does not round-trip: %v", fp, err)
			}
		}
	})
}
