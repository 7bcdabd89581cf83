package adversary

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tlslpd/bench/loadgen"
	"tlslpd/internal/testbin"
	"tlslpd/internal/testmetrics"
)

// The attacks run against the real binary, as an attacker meets it: its
// own process (its own 20,000 open files, its own RSS), built without the
// race detector so handshakes cost what they cost in production. Every
// server binds 127.0.0.1 port 0 and is killed when its test ends.

var tlslpdBin string

// hostileBin runs the attacks against another build, e.g. an older
// commit's, for before/after figures measured by the same attack code.
var hostileBin = flag.String("hostile.bin", "", "tlslpd binary to attack instead of building this tree's")

func TestMain(m *testing.M) {
	flag.Parse()
	if *hostileBin != "" {
		tlslpdBin = *hostileBin
		os.Exit(m.Run())
	}
	testbin.Main(m, &tlslpdBin, testbin.Build{})
}

const (
	testToken = "AUTH"
	testNBits = 4
	startWait = 20 * time.Second
)

// server is one tlslpd process under attack.
type server struct {
	*testbin.Proc
	t      testing.TB
	addr   string // the first listener's
	target Target
}

// startServer runs tlslpd with a fresh PKI, short loopback-only defaults
// and args on top (later flags win).
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	dir, pki := testbin.Home(t)
	base := []string{
		"--listen", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--token", testToken, "--n_bits", strconv.Itoa(testNBits),
		"--log-level", "INFO",
	}
	cmd := exec.Command(tlslpdBin, append(base, args...)...)
	cmd.Dir = dir
	p := testbin.Start(t, cmd, startWait)
	require.NotEmpty(t, p.Listen, "the serving line names no listener")
	cc, err := pki.ClientConfig("127.0.0.1")
	require.NoError(t, err)
	return &server{Proc: p, t: t, addr: p.Listen[0], target: Target{Addr: p.Listen[0], TLS: cc}}
}

// loadgenConfig aims the project's load generator at the server, from 16
// source addresses (127.0.0.x): the base the load benchmarks add to.
func (s *server) loadgenConfig() loadgen.Config {
	s.t.Helper()
	host, portS, err := net.SplitHostPort(s.target.Addr)
	require.NoError(s.t, err)
	port, err := strconv.Atoi(portS)
	require.NoError(s.t, err)
	return loadgen.Config{Host: host, Port: port, TLS: s.target.TLS, SourceIPs: 16}
}

// scrape reads /metrics as series -> value, the series spelled as in the
// text format (name{label="v",...}).
func (s *server) scrape() map[string]float64 {
	s.t.Helper()
	return testmetrics.Scrape(s.t, s.Metrics)
}

// sum adds the series of metric name whose labels contain every one of
// labels (each as `key="value"`).
func sum(m map[string]float64, name string, labels ...string) float64 {
	total := 0.0
	for series, v := range m {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			total += v
		}
	}
	return total
}

// rss is the server's resident set size in bytes, from /proc.
func (s *server) rss() int64 {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Cmd.Process.Pid))
	require.NoError(s.t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			require.NoError(s.t, err)
			return kb << 10
		}
	}
	s.t.Fatal("no VmRSS in /proc status")
	return 0
}

// memory says where the server's RSS is: anonymous memory (the Go heap,
// stacks and the runtime's own structures) against the binary's pages,
// and, from its Go metrics, the heap in use and the runtime's metadata
// (span structures and GC bitmaps, which the runtime never returns to the
// OS: they stay sized for the largest heap the process has had).
func (s *server) memory() string {
	s.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", s.Cmd.Process.Pid))
	require.NoError(s.t, err)
	kib := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			kib[strings.TrimSuffix(f[0], ":")], _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	m := s.scrape()
	mb := func(name string) float64 { return sum(m, name) / (1 << 20) }
	return fmt.Sprintf("RSS %.1f MiB = anonymous %.1f + files %.1f; Go heap in use %.1f, stacks %.1f, span structures %.1f, GC metadata %.1f MiB",
		float64(kib["Rss"])/1024, float64(kib["Anonymous"])/1024, float64(kib["Rss"]-kib["Anonymous"])/1024,
		mb("go_memstats_heap_inuse_bytes"), mb("go_memstats_stack_inuse_bytes"), mb("go_memstats_mspan_sys_bytes"), mb("go_memstats_gc_sys_bytes"))
}

// collect makes the server run a garbage collection, through the heap
// profile's gc parameter on its loopback /debug/pprof/.
func (s *server) collect() {
	s.t.Helper()
	url := strings.TrimSuffix(s.Metrics, "/metrics") + "/debug/pprof/heap?gc=1"
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(s.t, err)
	require.Equal(s.t, http.StatusOK, resp.StatusCode, "GET %s", url)
}

// waitMetric polls until cond holds for a scrape, or d passes.
func (s *server) waitMetric(what string, d time.Duration, cond func(map[string]float64) bool) map[string]float64 {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		m := s.scrape()
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loadSummary is what the tests read of `tlslpd bench load --json`.
type loadSummary struct {
	Sessions        float64 `json:"sessions"`
	DurationSeconds float64 `json:"duration_s"`
	Counts          struct {
		Completed    float64 `json:"completed"`
		InjectedFail float64 `json:"injected_fail"`
		Timeouts     float64 `json:"timeouts"`
	} `json:"counts"`
	All    map[string]float64 `json:"-"` // every count, for the log
	Errors []struct {
		Outcome string  `json:"outcome"`
		Message string  `json:"message"`
		Count   float64 `json:"count"`
	} `json:"errors"`
}

// good is the sessions the server served to the protocol's end.
func (l loadSummary) good() float64 { return l.Counts.Completed + l.Counts.InjectedFail }

// load runs the real load generator (`tlslpd bench load`, its own process
// with its own open-file limit, built without the race detector) against
// s with args added.
func (s *server) load(ctx context.Context, args ...string) loadSummary {
	s.t.Helper()
	host, port, _ := strings.Cut(s.addr, ":")
	base := []string{"bench", "load", "--host", host, "--port", port, "--json", "--source-ips", "16",
		"--ca-cert", "certificates/ca_cert.pem", "--client-cert", "certificates/client_cert.pem",
		"--private-key", "certificates/ec_private_key.pem"}
	cmd := exec.CommandContext(ctx, tlslpdBin, append(base, args...)...)
	cmd.Dir = s.Cmd.Dir
	out, err := cmd.Output()
	require.NoError(s.t, err, "bench load %v", args)
	var sum loadSummary
	require.NoError(s.t, json.Unmarshal(out, &sum), "bench load output: %s", out)
	var all struct {
		Counts map[string]float64 `json:"counts"`
	}
	_ = json.Unmarshal(out, &all)
	sum.All = all.Counts
	return sum
}
