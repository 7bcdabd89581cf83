package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The daemon's binary must not link test tooling: package testing
// registers its flags and brings test-only code into a long-lived server.
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "tlslpd/daemon", "the listing is of the main package")
	for _, forbidden := range []string{"testing", "github.com/stretchr/testify/assert",
		"tlslpd/internal/testbin", "tlslpd/internal/testenv", "tlslpd/internal/testfail", "tlslpd/internal/testlog",
		"tlslpd/internal/testmetrics", "tlslpd/internal/testproto"} {
		assert.NotContains(t, deps, forbidden)
	}
}
