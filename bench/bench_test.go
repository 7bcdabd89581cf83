package bench

import (
	"bytes"
	"go/build"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMainDispatch(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"missing", nil, 2, "", "missing subcommand"},
		{"unknown", []string{"stress"}, 2, "", "unknown subcommand"},
		{"help", []string{"help"}, 0, "usage", ""},
		{"load flags", []string{"load", "--bogus"}, 2, "", "bench load"},
		{"verify flags", []string{"verify", "--bogus"}, 2, "", "bench verify"},
		{"verify runs", []string{"verify", "--duration", "5ms", "--rounds", "1"}, 0, "ratio", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, Main(tc.args, &out, &errb))
			assert.Contains(t, out.String(), tc.stdout)
			assert.Contains(t, errb.String(), tc.stderr)
			if tc.code == 2 {
				assert.Equal(t, 1, strings.Count(errb.String(), "\n"))
			}
		})
	}
}

// TestNoServerImports enforces the rule in doc.go: nothing under bench (nor
// the client it may use) imports the server's packages.
func TestNoServerImports(t *testing.T) {
	forbidden := []string{"tlslpd/eventloop", "tlslpd/statemachine", "tlslpd/tlsbridge", "tlslpd/codec"}
	for _, dir := range []string{".", "./loadgen", "./report", "./verify", "./baseline", "../client"} {
		pkg, err := build.ImportDir(dir, 0)
		require.NoError(t, err, dir)
		imports := append(append(pkg.Imports, pkg.TestImports...), pkg.XTestImports...)
		for _, imp := range imports {
			for _, f := range forbidden {
				assert.False(t, imp == f || strings.HasPrefix(imp, f+"/"), "%s imports %s", dir, imp)
			}
		}
	}
}
