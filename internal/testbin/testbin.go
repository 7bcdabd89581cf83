package testbin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build describes one build of the main package.
type Build struct {
	Flags []string // go build flags, e.g. "-race" or "-trimpath"
	Env   []string // extra environment, e.g. "CGO_ENABLED=0"
}

// Main builds tlslpd as b says into a temporary directory, stores its
// path in *bin, runs the package's tests and exits with their status. It
// is the whole body of a package's TestMain.
func Main(m *testing.M, bin *string, b Build) {
	os.Exit(run(m, bin, b))
}

func run(m *testing.M, bin *string, b Build) int {
	dir, err := os.MkdirTemp("", "tlslpd-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testbin:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "tlslpd")
	if err := b.build(*bin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Binary builds tlslpd as b says into the test's temporary directory and
// returns its path: for a package where a single test runs the binary,
// so that its other tests do not wait for a build.
func Binary(t testing.TB, b Build) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tlslpd")
	if err := b.build(bin); err != nil {
		t.Fatalf("%v", err)
	}
	return bin
}

func (b Build) build(bin string) error {
	args := append([]string{"build"}, b.Flags...)
	build := exec.Command("go", append(args, "-o", bin, "tlslpd")...)
	build.Env = append(os.Environ(), b.Env...)
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		return fmt.Errorf("testbin: go %v: %w\n%s", build.Args[1:], err, &out)
	}
	return nil
}
