package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionCommandAndFlagAgree(t *testing.T) {
	var a, b, errs bytes.Buffer
	require.Equal(t, 0, run([]string{"version"}, &a, &errs))
	require.Equal(t, 0, run([]string{"--version"}, &b, &errs))
	assert.Empty(t, errs.String())
	assert.True(t, strings.HasPrefix(a.String(), "tlslpd "), a.String())
	assert.Equal(t, a.String(), b.String())
	assert.Equal(t, 1, strings.Count(a.String(), "\n"))
	assert.Equal(t, 2, run([]string{"version", "extra"}, &a, &errs))
	for _, help := range []string{"-h", "--help"} {
		var out, e bytes.Buffer
		assert.Equal(t, 0, run([]string{"version", help}, &out, &e), help)
		assert.True(t, strings.HasPrefix(out.String(), "usage: tlslpd version"), out.String())
		assert.Empty(t, e.String())
	}
}

// The Makefile stamps the version with -ldflags -X; a rename of the
// variables would silently fall back to "devel", so build as it does.
func TestVersionIsStampedAtBuildTime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "tlslpd")
	out, err := exec.Command("make", "--no-print-directory", "-s", "build", "BIN="+bin, "VERSION=v9.8.7-test", "REVISION=feedface").CombinedOutput()
	require.NoError(t, err, string(out))
	out, err = exec.Command(bin, "--version").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "tlslpd v9.8.7-test (revision feedface, go")
}
