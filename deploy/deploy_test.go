package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"tlslpd/certs"
	"tlslpd/config"
	"tlslpd/internal/testbin"
	"tlslpd/internal/testenv"
	"tlslpd/internal/testmetrics"
	"tlslpd/metrics"
)

// parseConfig validates a tlslpd YAML config the way the daemon does,
// plus extra flags, and returns the result.
func parseConfig(t *testing.T, yamlText string, args ...string) config.Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tlslpd.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yamlText), 0o644))
	cfg, err := config.Parse("tlslpd", append([]string{"--config", path}, args...), io.Discard)
	require.NoError(t, err, "config:\n%s", yamlText)
	return cfg
}

func portOf(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}

// --- Kubernetes ---

type object = map[string]any

func loadObjects(t *testing.T, path string) map[string]object {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, path)
		kind, _ := o["kind"].(string)
		require.NotEmpty(t, kind, "%s: an object without a kind", path)
		out[kind] = o
	}
	return out
}

// get walks a path of map keys and list indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(object)
			require.True(t, ok, "want a mapping at %v", p)
			v = m[k]
		case int:
			l, ok := v.([]any)
			require.True(t, ok && k < len(l), "want a list at %v", p)
			v = l[k]
		}
	}
	return v
}

func str(t *testing.T, v any, path ...any) string {
	t.Helper()
	s, ok := get(t, v, path...).(string)
	require.True(t, ok, "want a string at %v", path)
	return s
}

func num(t *testing.T, v any, path ...any) int {
	t.Helper()
	n, ok := get(t, v, path...).(int)
	require.True(t, ok, "want a number at %v", path)
	return n
}

func TestKubernetesManifestsMatchTheDaemon(t *testing.T) {
	objs := loadObjects(t, "kubernetes/tlslpd.yaml")
	for _, kind := range []string{"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"} {
		require.Contains(t, objs, kind)
	}
	dep := objs["Deployment"]
	pod := get(t, dep, "spec", "template")
	podSpec := get(t, pod, "spec")
	require.Len(t, get(t, podSpec, "containers"), 1)
	ctr := get(t, podSpec, "containers", 0)

	// The container's command line and the ConfigMap's file are what the
	// daemon accepts: every flag and key exists and validates.
	var args []string
	for _, a := range get(t, ctr, "args").([]any) {
		args = append(args, a.(string))
	}
	require.GreaterOrEqual(t, len(args), 2)
	require.Equal(t, "--config", args[0])
	mounts := map[string]string{} // volume name -> mount path
	for _, m := range get(t, ctr, "volumeMounts").([]any) {
		mounts[str(t, m, "name")] = str(t, m, "mountPath")
	}
	configVolume := ""
	for _, v := range get(t, podSpec, "volumes").([]any) {
		if cm, ok := v.(object)["configMap"]; ok {
			assert.Equal(t, str(t, objs["ConfigMap"], "metadata", "name"), str(t, cm, "name"))
			configVolume = str(t, v, "name")
		}
	}
	require.NotEmpty(t, configVolume, "a volume from the ConfigMap")
	file := filepath.Base(args[1])
	assert.Equal(t, mounts[configVolume], filepath.Dir(args[1]), "--config names a file in the ConfigMap's mount")
	cfgText, ok := get(t, objs["ConfigMap"], "data", file).(string)
	require.True(t, ok, "the ConfigMap holds %s", file)
	cfg := parseConfig(t, cfgText, args[2:]...)

	ports := map[string]int{}
	for _, p := range get(t, ctr, "ports").([]any) {
		ports[str(t, p, "name")] = num(t, p, "containerPort")
	}
	require.Len(t, cfg.Listen, 1)
	assert.Equal(t, ports["tlslp"], portOf(t, cfg.Listen[0]), "tlslp port is the one tlslpd listens on")
	assert.Equal(t, ports["metrics"], portOf(t, cfg.MetricsAddr), "metrics port is --metrics-addr's")
	assert.False(t, cfg.MetricsOnLoopback(), "a pod's metrics must be reachable from Prometheus")

	// Probes: the paths and port the metrics endpoint serves.
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		assert.Equal(t, path, str(t, ctr, probe, "httpGet", "path"), probe)
		assert.Equal(t, "metrics", str(t, ctr, probe, "httpGet", "port"), probe)
	}
	checkServed(t, "/readyz", "/healthz", "/metrics")

	// Scrape annotations point at the metrics port.
	ann := get(t, pod, "metadata", "annotations")
	assert.Equal(t, "true", str(t, ann, "prometheus.io/scrape"))
	assert.Equal(t, strconv.Itoa(ports["metrics"]), str(t, ann, "prometheus.io/port"))
	assert.Equal(t, "/metrics", str(t, ann, "prometheus.io/path"))

	// Termination: the kubelet waits for the preStop sleep and the drain.
	grace := time.Duration(num(t, podSpec, "terminationGracePeriodSeconds")) * time.Second
	preStop := time.Duration(num(t, ctr, "lifecycle", "preStop", "sleep", "seconds")) * time.Second
	assert.Greater(t, grace, preStop+cfg.DrainTimeout, "terminationGracePeriodSeconds must exceed preStop + drain-timeout")

	// Certificates come from a Secret mounted where the config looks.
	secretVolume, keys := "", map[string]bool{}
	for _, v := range get(t, podSpec, "volumes").([]any) {
		if sec, ok := v.(object)["secret"]; ok {
			secretVolume = str(t, v, "name")
			for _, it := range get(t, sec, "items").([]any) {
				keys[str(t, it, "path")] = true
			}
		}
	}
	require.NotEmpty(t, secretVolume, "a volume from a Secret")
	for _, f := range []string{cfg.ServerCert, cfg.ServerKey, cfg.CACert} {
		assert.Equal(t, mounts[secretVolume], filepath.Dir(f), "%s is in the Secret's mount", f)
		assert.True(t, keys[filepath.Base(f)], "the Secret volume projects %s", filepath.Base(f))
	}
	assert.Positive(t, cfg.CertWatchInterval, "a Secret update must reach the daemon without a restart")

	// The Service, PodDisruptionBudget and PodMonitor find these pods and ports.
	labels := get(t, pod, "metadata", "labels").(object)
	matches := func(sel any) bool {
		for k, v := range sel.(object) {
			if labels[k] != v {
				return false
			}
		}
		return len(sel.(object)) > 0
	}
	assert.True(t, matches(get(t, dep, "spec", "selector", "matchLabels")), "Deployment selector")
	assert.True(t, matches(get(t, objs["Service"], "spec", "selector")), "Service selector")
	assert.True(t, matches(get(t, objs["PodDisruptionBudget"], "spec", "selector", "matchLabels")), "PDB selector")
	for _, p := range get(t, objs["Service"], "spec", "ports").([]any) {
		assert.Contains(t, ports, str(t, p, "targetPort"), "Service targetPort is a container port name")
	}
	pm := loadObjects(t, "kubernetes/podmonitor.yaml")["PodMonitor"]
	require.NotNil(t, pm)
	assert.True(t, matches(get(t, pm, "spec", "selector", "matchLabels")), "PodMonitor selector")
	assert.Equal(t, "metrics", str(t, pm, "spec", "podMetricsEndpoints", 0, "port"))
	assert.Equal(t, "/metrics", str(t, pm, "spec", "podMetricsEndpoints", 0, "path"))

	assert.Equal(t, true, get(t, podSpec, "securityContext", "runAsNonRoot"))
	assert.Equal(t, false, get(t, ctr, "securityContext", "allowPrivilegeEscalation"))
	assert.Equal(t, true, get(t, ctr, "securityContext", "readOnlyRootFilesystem"))
	assert.Equal(t, "limits.memory", str(t, ctr, "env", 0, "valueFrom", "resourceFieldRef", "resource"), "GOMEMLIMIT from the memory limit")
	assert.Equal(t, "GOMEMLIMIT", str(t, ctr, "env", 0, "name"))
}

// checkServed asks the daemon's own metrics endpoint for each path.
func checkServed(t *testing.T, paths ...string) {
	t.Helper()
	h, err := metrics.Listen("127.0.0.1:0", metrics.New(), metrics.HTTPOptions{})
	require.NoError(t, err)
	go func() { _ = h.Serve() }()
	t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
	h.SetReady(true)
	hc := http.Client{Timeout: 10 * time.Second}
	for _, p := range paths {
		resp, err := hc.Get("http://" + h.Addr().String() + p)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
}

// --- container ---

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	text := string(data)
	var froms, exposed []string
	user, cmd := "", ""
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "USER":
			user = f[1]
		case "EXPOSE":
			exposed = append(exposed, f[1:]...)
		case "CMD":
			cmd = strings.TrimSpace(strings.TrimPrefix(line, f[0]))
		}
	}
	require.GreaterOrEqual(t, len(froms), 2, "multi-stage")
	final := froms[len(froms)-1]
	assert.True(t, strings.Contains(final, "distroless/static") || final == "scratch", "final stage %s has no shell or libc", final)
	uid, _, _ := strings.Cut(user, ":")
	n, err := strconv.Atoi(uid)
	require.NoError(t, err, "USER is numeric, so runAsNonRoot can check it")
	assert.NotZero(t, n, "not root")
	assert.Contains(t, text, "CGO_ENABLED=0")
	// The ldflags name the variables the version package reads.
	assert.Contains(t, text, "-X tlslpd/version.stamped=")
	assert.Contains(t, text, "-X tlslpd/version.stampedRevision=")

	// The baked-in config validates, listens where EXPOSE says, and lives
	// where CMD points.
	var cmdArgs []string
	require.NoError(t, json.Unmarshal([]byte(cmd), &cmdArgs), "CMD in exec form")
	require.Equal(t, "--config", cmdArgs[0])
	assert.Contains(t, text, "COPY deploy/tlslpd-container.yaml "+cmdArgs[1])
	body, err := os.ReadFile("tlslpd-container.yaml")
	require.NoError(t, err)
	cfg := parseConfig(t, string(body))
	require.Len(t, cfg.Listen, 1)
	assert.ElementsMatch(t, []string{strconv.Itoa(portOf(t, cfg.Listen[0])), strconv.Itoa(portOf(t, cfg.MetricsAddr))}, exposed)
	assert.False(t, cfg.MetricsOnLoopback(), "a container's metrics must be reachable from outside it")
}

// binary is tlslpd built as the Dockerfile builds it (TestMain).
var binary string

func TestMain(m *testing.M) {
	testbin.Main(m, &binary, testbin.Build{
		Flags: []string{"-trimpath", "-ldflags", "-s -w -X tlslpd/version.stamped=v0.0.0-image"},
		Env:   []string{"CGO_ENABLED=0"}, // as the Dockerfile builds it
	})
}

// The image's build line makes a binary with no dynamic loader: it runs
// on distroless/static (or scratch) with no libc.
func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(binary)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a dynamic loader would be needed")
	}
	out, err := exec.Command(binary, "--version").CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(out), "v0.0.0-image")
}

// --- Grafana ---

var metricName = regexp.MustCompile(`\b((?:tlslpd|process|go)_[a-z_]+)\b`)

// dashboard is the part of the Grafana JSON the tests read.
type dashboard struct {
	Title  string `json:"title"`
	Panels []struct {
		Title   string `json:"title"`
		Type    string `json:"type"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile("grafana/tlslpd-dashboard.json")
	require.NoError(t, err)
	var dash dashboard
	require.NoError(t, json.Unmarshal(data, &dash))
	require.NotEmpty(t, dash.Panels)
	return dash
}

// runningDaemon is the binary serving on loopback with metrics and
// records on (so every series exists), until the test ends.
type runningDaemon struct {
	port        int
	metricsAddr string
	files       certs.Files
}

func startDaemon(t *testing.T) runningDaemon {
	t.Helper()
	files := testenv.New(t).Files(t)
	cmd := exec.Command(binary, "--listen", "127.0.0.1:0", "--server-cert", files.ServerCert, "--server-key", files.ServerKey,
		"--ca-cert", files.CACert, "--metrics-addr", "127.0.0.1:0", "--records", filepath.Join(t.TempDir(), "r.jsonl"),
		"--n_bits", "4", "--log-level", "INFO")
	p := testbin.Start(t, cmd, 20*time.Second)
	require.NotEmpty(t, p.Listen, "the serving line names no listener")
	metrics, err := url.Parse(p.Metrics)
	require.NoError(t, err, "the serving line's metrics URL")
	require.NotEmpty(t, metrics.Host, "the serving line names no metrics server")
	return runningDaemon{port: portOf(t, p.Listen[0]), metricsAddr: metrics.Host, files: files}
}

func TestGrafanaDashboardQueriesExistingMetrics(t *testing.T) {
	dash := loadDashboard(t)
	d := startDaemon(t)
	exported := testmetrics.Scrape(t, "http://"+d.metricsAddr+"/metrics").Names()
	require.True(t, exported["tlslpd_build_info"])

	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			require.NotEmpty(t, names, "panel %q: %s", p.Title, tg.Expr)
			for _, n := range names {
				used[n] = true
				assert.True(t, exported[n], "panel %q queries %s, which tlslpd does not export", p.Title, n)
			}
		}
	}
	// And the dashboard covers the series operators page on.
	for _, n := range []string{"tlslpd_certificate_expiry_timestamp_seconds", "tlslpd_connections_refused_total", "tlslpd_tls_handshakes_total", "tlslpd_sessions_finished_total", "tlslpd_step_duration_seconds_bucket"} {
		assert.True(t, used[n], "the dashboard shows %s", n)
	}
}

// A real Prometheus scrapes a real tlslpd, and every dashboard query
// (Grafana's variables filled in) parses and returns series. CI installs
// Debian's prometheus (.ci/run), so there its absence fails the test.
func TestDashboardQueriesOnPrometheus(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prometheus is not installed; .ci/run installs it (apt-get install -y prometheus)")
		}
		t.Skip("prometheus is not installed (apt-get install -y prometheus); CI runs this test")
	}
	dash := loadDashboard(t)
	d := startDaemon(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(
		"global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: tlslpd\n    static_configs: [{targets: ['%s']}]\n", d.metricsAddr)), 0o644))
	promAddr := "127.0.0.1:" + strconv.Itoa(testenv.ClosedPort(t))
	var promLog bytes.Buffer
	cmd := exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	cmd.Stdout, cmd.Stderr = &promLog, &promLog
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	hc := http.Client{Timeout: 10 * time.Second}
	query := func(expr string) (status string, series int, errText string) {
		resp, err := hc.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(expr))
		if err != nil {
			return "", 0, err.Error()
		}
		defer resp.Body.Close()
		var out struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return "", 0, err.Error()
		}
		return out.Status, len(out.Data.Result), out.Error
	}
	// Some sessions, then two scrapes after them, so rates have data. A
	// session completes only if none of its 20 body steps draws the
	// injected FAIL (1 in 9 each): about 9.5 %, so 40 sessions all failed
	// about one run in 54 (bench load then exits 1); with 200, under one
	// in 10^8.
	load := exec.Command(binary, "bench", "load", "--host", "127.0.0.1", "--port", strconv.Itoa(d.port), "--sessions", "200", "--workers", "2",
		"--ca-cert", d.files.CACert, "--client-cert", d.files.ClientCert, "--private-key", d.files.ClientKey)
	out, err := load.CombinedOutput()
	require.NoError(t, err, "bench load: %s", out)
	require.Eventually(t, func() bool {
		_, n, _ := query(`count_over_time(tlslpd_sessions_finished_total{outcome="completed"}[1m]) >= 3`)
		return n > 0
	}, 60*time.Second, 200*time.Millisecond, "prometheus did not scrape tlslpd:\n%s", &promLog)

	vars := strings.NewReplacer("$job", ".*", "$instance", ".*", "$__rate_interval", "1m", "$__range", "1h")
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			expr := vars.Replace(tg.Expr)
			status, n, errText := query(expr)
			if assert.Equal(t, "success", status, "panel %q: %s: %s", p.Title, expr, errText) {
				assert.Positive(t, n, "panel %q returns no series: %s", p.Title, expr)
			}
		}
	}
}

// --- systemd ---

// unitFile reads a systemd unit: section -> key -> values (keys repeat).
func unitFile(t *testing.T, path string) map[string]map[string][]string {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]map[string][]string{}
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "unit line %q", line)
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	unit := unitFile(t, "tlslpd.service")
	svc := unit["Service"]
	one := func(k string) string {
		require.Len(t, svc[k], 1, k)
		return svc[k][0]
	}
	// The user is created by the shipped sysusers.d file (or is dynamic).
	if one("User") != "" && len(svc["DynamicUser"]) == 0 {
		sysusers, err := os.ReadFile("tlslpd.sysusers")
		require.NoError(t, err)
		assert.Regexp(t, `(?m)^u `+regexp.QuoteMeta(one("User"))+` `, string(sysusers), "tlslpd.sysusers creates User=")
	}
	state, logs := one("StateDirectory"), one("LogsDirectory")
	assert.Equal(t, "/var/lib/"+state, one("WorkingDirectory"), "the working directory is the one systemd creates")

	// ExecStart's flags and the sample config are what the daemon accepts;
	// what it writes lies in directories systemd creates for it.
	execStart := strings.Fields(one("ExecStart"))
	require.Equal(t, "--config", execStart[1])
	sample, err := os.ReadFile("tlslpd.yaml")
	require.NoError(t, err)
	cfg := parseConfig(t, string(sample), execStart[3:]...)
	assert.Equal(t, "/etc/tlslpd/tlslpd.yaml", execStart[2])
	assert.Equal(t, "tlslpd", one("ConfigurationDirectory"))
	if cfg.Records != "" {
		assert.True(t, strings.HasPrefix(cfg.Records, "/var/log/"+logs+"/") || strings.HasPrefix(cfg.Records, "/var/lib/"+state+"/"),
			"records file %s is in LogsDirectory or StateDirectory", cfg.Records)
	}
	stop, err := time.ParseDuration(one("TimeoutStopSec") + "s")
	require.NoError(t, err)
	assert.Greater(t, stop, cfg.DrainTimeout, "systemd waits out the drain")
	assert.Equal(t, "notify", one("Type"))
	assert.Empty(t, svc["ReadWritePaths"], "StateDirectory/LogsDirectory make their paths writable")

	// systemd's own check, where systemd-analyze is installed.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit was checked by this test's parser only, not by systemd-analyze verify")
		return
	}
	dir := t.TempDir()
	self, err := os.Executable()
	require.NoError(t, err)
	text, err := os.ReadFile("tlslpd.service")
	require.NoError(t, err)
	// verify checks that ExecStart's binary exists: point it at one.
	patched := strings.Replace(string(text), "ExecStart="+execStart[0], "ExecStart="+self, 1)
	path := filepath.Join(dir, "tlslpd.service")
	require.NoError(t, os.WriteFile(path, []byte(patched), 0o644))
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify:\n%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns")
}
