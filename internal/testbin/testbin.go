package testbin

import (
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
	args := append([]string{"build"}, b.Flags...)
	build := exec.Command("go", append(args, "-o", *bin, "tlslpd")...)
	build.Env = append(os.Environ(), b.Env...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "testbin: go %v: %v\n", build.Args[1:], err)
		return 1
	}
	return m.Run()
}
