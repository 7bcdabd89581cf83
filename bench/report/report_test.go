package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"tlslpd/bench/loadgen"
	"tlslpd/internal/testenv"
)

// loadRuns runs two `tlslpd bench load` side by side against one
// in-process tlslpd, one closed and one open model, with --out files.
func loadRuns(t *testing.T) (dir string, files []string, sums []loadgen.Summary) {
	t.Helper()
	env := testenv.New(t)
	// A minute per step on both sides: a loaded machine under -race makes
	// sessions slow, and these runs must not turn that into timeouts.
	port := env.StartTlslpd(t, "--n_bits", "8", "--handshake-timeout", "60s", "--other-timeout", "60")
	certs := env.Files(t)
	dir = t.TempDir()
	common := []string{"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--client-cert", certs.ClientCert,
		"--private-key", certs.ClientKey, "--ca-cert", certs.CACert, "--quiet", "--json", "--interval", "250ms", "--other-timeout", "60"}
	// tlslpd injects FAIL in about 90% of sessions (the reference's
	// draw): 100 sessions each leave some completed in most intervals.
	modes := [][]string{{"--workers", "2", "--sessions", "100"}, {"--rate", "100", "--duration", "1s", "--grace", "60s"}}
	files = make([]string, len(modes))
	sums = make([]loadgen.Summary, len(modes))
	var wg sync.WaitGroup
	for i, m := range modes {
		files[i] = filepath.Join(dir, "gen"+strconv.Itoa(i)+".hlog")
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out, errb bytes.Buffer
			code := loadgen.Main(append(append([]string{"--out", files[i]}, m...), common...), &out, &errb)
			assert.Equal(t, loadgen.ExitOK, code, errb.String())
			assert.NoError(t, json.Unmarshal(out.Bytes(), &sums[i]))
		}()
	}
	wg.Wait()
	return dir, files, sums
}

// TestReport merges two runs made once (load is the costly part).
func TestReport(t *testing.T) {
	dir, files, sums := loadRuns(t)
	t.Run("merges runs", func(t *testing.T) { reportMergesRuns(t, dir, files, sums) })
	t.Run("threshold exit code", func(t *testing.T) { reportThresholdExitCode(t, files) })
	t.Run("directory, wait and JSON file", func(t *testing.T) { reportDirectoryWaitAndJSONFile(t, dir, files, sums) })
}

func reportMergesRuns(t *testing.T, dir string, files []string, sums []loadgen.Summary) {
	html := filepath.Join(t.TempDir(), "merged.html")

	var jsonOut, errb bytes.Buffer
	code := Main(append([]string{"--json", "--html", html, "--threshold", "p99<1h"}, files...), &jsonOut, &errb)
	require.Equal(t, loadgen.ExitOK, code, errb.String())
	assert.Contains(t, errb.String(), "wrote report to "+html)
	var merged loadgen.Summary
	require.NoError(t, json.Unmarshal(jsonOut.Bytes(), &merged))
	require.Len(t, merged.Generators, 2)
	for i, g := range merged.Generators {
		require.NotNil(t, g.Counts, "each generator's own counts")
		assert.Equal(t, sums[i].Counts, *g.Counts)
		assert.Equal(t, sums[i].Started, g.Started)
	}
	assert.Equal(t, sums[0].Counts.Completed+sums[1].Counts.Completed, merged.Counts.Completed)
	assert.Equal(t, sums[0].Counts.Total()+sums[1].Counts.Total(), merged.Counts.Total())
	assert.Equal(t, sums[0].Started+sums[1].Started, merged.Started)
	assert.Equal(t, "closed, open", merged.Mode)
	assert.LessOrEqual(t, merged.Latency.P50, merged.Latency.P99)
	require.Len(t, merged.Thresholds, 1)
	assert.True(t, merged.Thresholds[0].OK)

	// The text summary says the same numbers as the JSON.
	var text bytes.Buffer
	require.Equal(t, loadgen.ExitOK, Main(files, &text, &errb))
	l := merged.Latency
	assert.Contains(t, text.String(), "latency of "+strconv.FormatUint(l.Count, 10)+" completed sessions: p50 "+loadgen.HumanMs(l.P50)+"  p90 "+loadgen.HumanMs(l.P90)+
		"  p99 "+loadgen.HumanMs(l.P99)+"  p99.9 "+loadgen.HumanMs(l.P999)+"  max "+loadgen.HumanMs(l.Max))
	assert.Regexp(t, regexp.MustCompile(`completed +`+strconv.FormatUint(merged.Counts.Completed, 10)+` `), text.String())
	assert.Contains(t, text.String(), strconv.FormatUint(merged.Started, 10)+" started")
	for _, p := range merged.Phases {
		assert.Regexp(t, regexp.QuoteMeta(p.Title)+` +`+strconv.FormatUint(p.Latency.Count, 10)+` +`+regexp.QuoteMeta(loadgen.HumanMs(p.Latency.P50)), text.String())
	}
	assert.Contains(t, text.String(), "(2 load generators merged)")

	// The HTML report has every part, self-contained.
	data, err := os.ReadFile(html)
	require.NoError(t, err)
	page := string(data)
	for _, part := range []string{
		`<table id="parameters">`, `<table id="outcomes">`, `<table id="thresholds">`, `<table id="latency">`, `<table id="phases">`,
		`<svg id="latency-over-time"`,
		`<svg id="throughput"`, `<rect class="completed"`, `<polyline class="started"`, `<line class="offered"`,
		`<svg id="latency-spectrum"`, `<polyline class="spectrum"`, `<svg id="inflight"`,
		`class="legend"`, "2 load generators merged", "TLS handshake", "WORK verify (server round trip)",
	} {
		assert.True(t, strings.Contains(page, part), "the report has %s", part)
	}
	// Each latency series is drawn: as a line where two intervals in a row
	// had completed sessions, as points where only one did (about one
	// session in ten completes; the rest end in injected FAILs).
	for _, class := range []string{"p50", "p90", "p99"} {
		assert.True(t, strings.Contains(page, `<polyline class="`+class+`"`) || strings.Contains(page, `<circle class="`+class+`"`), "the %s series is drawn", class)
	}
	assert.Equal(t, 2, strings.Count(page, "<code>tlslpd bench load --out "), "each generator's command line")
	for _, remote := range []string{"<script", `src="http`, `href="http`, "@import", "url("} {
		assert.False(t, strings.Contains(page, remote), "self-contained, yet it has %s", remote)
	}
}

func reportThresholdExitCode(t *testing.T, files []string) {
	var out, errb bytes.Buffer
	code := Main(append(files, "--threshold", "p50<1us", "--threshold", "errors<1%"), &out, &errb)
	assert.Equal(t, loadgen.ExitThreshold, code)
	assert.Contains(t, out.String(), "threshold p50<1us: VIOLATED")
	assert.Contains(t, out.String(), "threshold errors<1%: ok")
}

func TestReportErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hlog")
	require.NoError(t, os.WriteFile(bad, []byte("not a results file\n"), 0o644))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no files", nil, loadgen.ExitUsage, "no results files"},
		{"bad flag", []string{"--bogus", "x"}, loadgen.ExitUsage, "bogus"},
		{"bad threshold", []string{"--threshold", "p99<soon", "x"}, loadgen.ExitUsage, "not a duration"},
		{"missing file", []string{filepath.Join(dir, "nope.hlog")}, loadgen.ExitFailed, "nope.hlog"},
		{"not a results file", []string{bad}, loadgen.ExitFailed, "not a tlslpd bench load results file"},
		{"html path checked first", []string{"--html", filepath.Join(dir, "no", "x.html"), bad}, loadgen.ExitFailed, "--html"},
		{"html names an input", []string{"--html", bad, bad}, loadgen.ExitUsage, "--html " + bad + " would overwrite the results it reads"},
		{"json-out names an input by another path", []string{"--json-out", filepath.Join(dir, ".", "bad.hlog"), bad}, loadgen.ExitUsage, "would overwrite"},
		{"json-out as .hlog in an input directory", []string{"--json-out", filepath.Join(dir, "merged.hlog"), dir}, loadgen.ExitUsage, "would overwrite"},
		{"one file for both outputs", []string{"--html", filepath.Join(dir, "o"), "--json-out", filepath.Join(dir, "o"), bad}, loadgen.ExitUsage, "--html and --json-out both name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, Main(tc.args, &out, &errb))
			assert.Equal(t, 1, strings.Count(errb.String(), "\n"), errb.String())
			assert.Contains(t, errb.String(), tc.want)
		})
	}
	text, err := os.ReadFile(bad)
	require.NoError(t, err)
	assert.Equal(t, "not a results file\n", string(text), "an input is never truncated by an output")
}

// reportDirectoryWaitAndJSONFile runs last: it cuts a file short.
func reportDirectoryWaitAndJSONFile(t *testing.T, dir string, files []string, sums []loadgen.Summary) {
	jsonPath := filepath.Join(t.TempDir(), "merged.json")
	var out, errb bytes.Buffer
	// A directory stands for its *.hlog files; --wait 2 finds both done.
	code := Main([]string{"--wait", "2", "--wait-timeout", "5s", "--json-out", jsonPath, dir}, &out, &errb)
	require.Equal(t, loadgen.ExitOK, code, errb.String())
	data, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var merged loadgen.Summary
	require.NoError(t, json.Unmarshal(data, &merged))
	assert.Equal(t, sums[0].Counts.Total()+sums[1].Counts.Total(), merged.Counts.Total())
	assert.Contains(t, out.String(), "(2 load generators merged)")

	// A file without its end record is not finished: --wait gives up.
	text, err := os.ReadFile(files[0])
	require.NoError(t, err)
	cut := string(text[:bytes.LastIndex(text, []byte("#tlslpd-end "))])
	require.NoError(t, os.WriteFile(files[0], []byte(cut), 0o644))
	errb.Reset()
	code = Main([]string{"--wait", "2", "--wait-timeout", "1500ms", dir}, &out, &errb)
	assert.Equal(t, loadgen.ExitFailed, code)
	assert.Contains(t, errb.String(), "waiting: 1 of 2 results files finished")
	assert.Contains(t, errb.String(), "--wait: 1 of 2 results files finished after 1.5s")
}

// TestKubernetesReportJob: the merge Job's command line is one bench
// report accepts.
func TestKubernetesReportJob(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "loadgen-job.yaml"))
	require.NoError(t, err)
	docs := strings.Split(string(data), "\n---\n")
	last := docs[len(docs)-1]
	require.Contains(t, last, "name: tlslpd-loadgen-report")
	var job struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct{ Args []string }
				}
			}
		}
	}
	require.NoError(t, yaml.Unmarshal([]byte(last), &job))
	args := job.Spec.Template.Spec.Containers[0].Args
	require.Equal(t, []string{"bench", "report"}, args[:2])
	o, _, err := parse(args[2:])
	require.NoError(t, err)
	assert.Equal(t, 4, o.wait, "waits for every index of the load Job (completions: 4)")
	assert.Contains(t, string(data), "completions: 4")
	assert.Equal(t, []string{"/results"}, o.files)
}
