package loadgen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
)

func TestMainFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus"}, "bogus"},
		{"two modes", []string{"--workers", "2", "--rate", "5"}, "exclusive"},
		{"negative sessions", []string{"--sessions", "-1"}, "negative"},
		{"bad duration", []string{"--duration", "soon"}, "duration"},
		{"bad resumption", []string{"--resumption=maybe"}, "resumption"},
		{"zero hold", []string{"--park", "5", "--hold", "0s"}, "hold"},
		{"port range", []string{"--port", "0"}, "port"},
		{"n-bits range", []string{"--n-bits", "65"}, "n-bits"},
		{"bad timeout", []string{"--other-timeout", "0"}, "other-timeout"},
		{"positional", []string{"now"}, "now"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, 2, Main(tc.args, &out, &errb))
			assert.Empty(t, out.String())
			assert.Equal(t, 1, strings.Count(errb.String(), "\n"), errb.String())
			assert.Contains(t, errb.String(), tc.want)
		})
	}
}

func TestMainOutputs(t *testing.T) {
	env := newEnv(t)
	dir := t.TempDir()
	files, err := env.pki.Write(filepath.Join(dir, "certs"), false)
	require.NoError(t, err)
	port, _ := startBaseline(t, env, baseline.Config{NBits: 4, Inject: baseline.InjectNever})
	common := []string{"--host", "127.0.0.1", "--port", itoa(port), "--client-cert", files.ClientCert,
		"--private-key", files.ClientKey, "--ca-cert", files.CACert, "--n-bits", "4"}

	t.Run("json", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"--workers", "2", "--sessions", "12", "--json", "--resumption", "on"}, common...), &out, &errb)
		require.Equal(t, 0, code, errb.String())
		var got map[string]any
		require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
		for _, k := range []string{"schema_version", "mode", "sessions", "sessions_per_s", "counts", "latency", "per_second", "spectrum"} {
			assert.Contains(t, got, k)
		}
		var sum Summary
		require.NoError(t, json.Unmarshal(out.Bytes(), &sum))
		assert.Equal(t, SchemaVersion, sum.SchemaVersion)
		assert.Equal(t, uint64(12), sum.Counts.Completed)
		assert.True(t, sum.Resumption)
		assert.Positive(t, sum.Resumed, "later sessions resume")
		assert.Equal(t, 4, sum.NBits)
	})

	t.Run("text and report", func(t *testing.T) {
		report := filepath.Join(dir, "report.html")
		var out, errb bytes.Buffer
		code := Main(append([]string{"--rate", "50", "--duration", "500ms", "--report", report}, common...), &out, &errb)
		require.Equal(t, 0, code, errb.String())
		assert.Contains(t, out.String(), "outcomes: completed 25,")
		assert.Contains(t, out.String(), "p99.9")
		assert.Empty(t, errb.String(), "no progress line when stderr is not a terminal")
		data, err := os.ReadFile(report)
		require.NoError(t, err)
		page := string(data)
		assert.Contains(t, page, `<svg id="latency-spectrum"`)
		assert.Contains(t, page, `<title>Latency by percentile (ms)</title>`)
		assert.Contains(t, page, `<polyline class="spectrum"`)
		assert.Contains(t, page, `<svg id="throughput"`)
		assert.Contains(t, page, `<title>Sessions per second over time</title>`)
		assert.Contains(t, page, `<rect class="completed"`)
		assert.NotContains(t, page, "http://cdn", "self-contained")
		assert.NotContains(t, page, "<script")
		assert.NotContains(t, page, `src="http`)
	})

	t.Run("nothing succeeds", func(t *testing.T) {
		var out, errb bytes.Buffer
		args := append(common[:0:0], common...)
		args[3] = itoa(closedPort(t))
		code := Main(append([]string{"--workers", "1", "--sessions", "3"}, args...), &out, &errb)
		assert.Equal(t, 1, code)
		assert.Contains(t, out.String(), "connect errors 3")
		assert.Contains(t, errb.String(), "no session succeeded")
	})

	t.Run("missing certificates", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := Main([]string{"--ca-cert", filepath.Join(dir, "nope.pem"), "--sessions", "1"}, &out, &errb)
		assert.Equal(t, 1, code)
		assert.Equal(t, 1, strings.Count(errb.String(), "\n"))
		assert.Contains(t, errb.String(), "nope.pem")
	})
}

func TestWriteReportEmpty(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteReport(&b, &Summary{Mode: "closed", Target: "127.0.0.1:1"}))
	assert.Contains(t, b.String(), "no completed sessions")
	assert.Contains(t, b.String(), "no sessions finished")
}
