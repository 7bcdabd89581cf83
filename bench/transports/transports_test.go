package transports

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/bench/leanclient"
	"tlslpd/bench/suite"
	"tlslpd/config"
	"tlslpd/daemon"
	"tlslpd/eventloop"
	"tlslpd/internal/testenv"
)

// childEnv names the server a re-executed test binary runs:
// tlslpd-tcp, tlslpd-tls, baseline-tcp or baseline-tls. childCerts is the
// directory of the PKI files.
const (
	childEnv   = "TLSLPD_TRANSPORTS_SERVER"
	childCerts = "TLSLPD_TRANSPORTS_CERTS"
	// childProfile, when set, makes tlslpd children write a CPU profile
	// to $TLSLPD_TRANSPORTS_CPUPROFILE-<kind>.pprof.
	childProfile = "TLSLPD_TRANSPORTS_CPUPROFILE"
	// childArgs are further tlslpd flags for the tlslpd children, e.g.
	// TLSLPD_TRANSPORTS_ARGS="--loops 1".
	childArgs = "TLSLPD_TRANSPORTS_ARGS"
	// benchClients sets the benchmark's concurrent clients (default 16).
	benchClients = "TLSLPD_TRANSPORTS_CLIENTS"
)

func TestMain(m *testing.M) {
	if kind := os.Getenv(childEnv); kind != "" {
		if path := os.Getenv(childProfile); path != "" && strings.HasPrefix(kind, "tlslpd") {
			// A profile of the server alone: TLSLPD_TRANSPORTS_CPUPROFILE=dir/prefix
			f, err := os.Create(path + "-" + kind + ".pprof")
			if err == nil && pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
		if err := serve(kind, os.Getenv(childCerts)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StopCPUProfile()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serve runs one server until SIGTERM, printing its port first.
func serve(kind, certs string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	server, transport, _ := strings.Cut(kind, "-")
	files := func(name string) string { return filepath.Join(certs, name) }
	if server == "baseline" {
		cert, err := tls.LoadX509KeyPair(files("server-cert.pem"), files("server-key.pem"))
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		return baseline.Serve(ctx, ln, baseline.Config{
			Plain: transport == "tcp", TLS: baseline.NewTLSConfig(cert, nil, true), ZeroBits: true, Inject: baseline.InjectReference,
		})
	}
	args := []string{
		"--listen", transport + "://127.0.0.1:0", "--insecure", "--n_bits", "0",
		"--server-cert", files("server-cert.pem"), "--server-key", files("server-key.pem"), "--ca-cert", files("ca_cert.pem"),
		"--status-interval", "0", "--log-level", "ERROR", "--shed-delay", "-1s",
	}
	if extra := os.Getenv(childArgs); extra != "" {
		args = append(args, strings.Fields(extra)...)
	}
	cfg, err := config.Parse("tlslpd", args, nil)
	if err != nil {
		return err
	}
	d, err := daemon.New(cfg, zerolog.Nop())
	if err != nil {
		return err
	}
	d.Hooks.Started = func(s *eventloop.Server) { fmt.Println(s.Addrs()[0].(*net.TCPAddr).Port) }
	return d.Run(ctx)
}

// child is one server process.
type child struct {
	cmd  *exec.Cmd
	port int
}

func startChild(tb testing.TB, kind, certs string) *child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+kind, childCerts+"="+certs)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	c := &child{cmd: cmd}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(tb, err, "%s did not start", kind)
	c.port, err = strconv.Atoi(strings.TrimSpace(line))
	require.NoError(tb, err)
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return c
}

// cpu is the child's CPU seconds so far.
func (c *child) cpu(tb testing.TB) float64 {
	s, err := suite.NewProcReader().Sample(c.cmd.Process.Pid)
	require.NoError(tb, err)
	return s.CPUSeconds
}

// measure runs n sessions on clients workers (bench/leanclient) and
// returns the server's CPU seconds and the wall time they took.
func measure(tb testing.TB, c *child, tlsCfg *tls.Config, n, clients int) (cpu, wall float64) {
	tb.Helper()
	cpu0 := c.cpu(tb)
	res, err := leanclient.Run(context.Background(), leanclient.Config{
		Addr: "127.0.0.1:" + strconv.Itoa(c.port), TLS: tlsCfg, Workers: clients, Sessions: n,
	})
	require.NoError(tb, err)
	cpu = c.cpu(tb) - cpu0
	require.Zero(tb, res.Errors, "sessions failed: %s", res.ErrSample)
	return cpu, res.Seconds
}

type result struct{ cpu, wall, sessions float64 }

func (r result) cpuPerSession() float64 { return r.cpu / r.sessions }
func (r result) perSecond() float64     { return r.sessions / r.wall }

// TestServersPlaySessions checks every server of the benchmark over both
// transports with a few sessions, so the benchmark measures working servers.
func TestServersPlaySessions(t *testing.T) {
	env := testenv.New(t)
	certs := filepath.Dir(env.Files(t).ServerCert)
	for _, kind := range []string{"tlslpd-tcp", "baseline-tcp", "tlslpd-tls", "baseline-tls"} {
		t.Run(kind, func(t *testing.T) {
			c := startChild(t, kind, certs)
			var tlsCfg *tls.Config
			if strings.HasSuffix(kind, "tls") {
				tlsCfg = &tls.Config{RootCAs: env.PKI.CertPool(), ServerName: "localhost"}
			}
			cpu, _ := measure(t, c, tlsCfg, 20, 2) // fails the test if a session does
			require.GreaterOrEqual(t, cpu, 0.0, "the child's CPU is read")
		})
	}
}

// BenchmarkTransportsCPU measures server CPU per session and sessions per
// second, tlslpd against the goroutine baseline, over plain TCP and over
// TLS (no client certificates on either side, n_bits 0, the reference's
// FAIL injection), in interleaved rounds of one run. Reported: each
// server's µs of CPU per session and sessions/s, and the ratios
// tlslpd/baseline (the goal over plain TCP: cpu ratio at most 0.5).
func BenchmarkTransportsCPU(b *testing.B) {
	env := testenv.New(b)
	certs := filepath.Dir(env.Files(b).ServerCert)
	clientTLS := &tls.Config{RootCAs: env.PKI.CertPool(), ServerName: "localhost"}
	clients := 16
	if n, err := strconv.Atoi(os.Getenv(benchClients)); err == nil && n > 0 {
		clients = n
	}
	sessions := map[string]int{"tcp": 4000, "tls": 600}
	if testing.Short() {
		sessions = map[string]int{"tcp": 400, "tls": 60}
	}
	kinds := []string{"tlslpd-tcp", "baseline-tcp", "tlslpd-tls", "baseline-tls"}
	children := map[string]*child{}
	for _, k := range kinds {
		children[k] = startChild(b, k, certs)
	}
	totals := map[string]*result{}
	for _, k := range kinds {
		totals[k] = &result{}
	}
	b.ResetTimer()
	for range b.N {
		for round := 0; round < 2; round++ {
			for _, k := range kinds {
				if round == 1 { // reverse order in the second round
					k = kinds[len(kinds)-1-indexOf(kinds, k)]
				}
				transport := k[strings.IndexByte(k, '-')+1:]
				var tlsCfg *tls.Config
				if transport == "tls" {
					tlsCfg = clientTLS
				}
				n := sessions[transport]
				measure(b, children[k], tlsCfg, n/10, clients) // warm-up
				cpu, wall := measure(b, children[k], tlsCfg, n, clients)
				totals[k].cpu += cpu
				totals[k].wall += wall
				totals[k].sessions += float64(n)
			}
		}
	}
	b.StopTimer()
	for _, k := range kinds {
		b.ReportMetric(totals[k].cpuPerSession()*1e6, k+"-cpu-µs/session")
		b.ReportMetric(totals[k].perSecond(), k+"-sessions/s")
	}
	for _, tr := range []string{"tcp", "tls"} {
		b.ReportMetric(totals["tlslpd-"+tr].cpuPerSession()/totals["baseline-"+tr].cpuPerSession(), tr+"-cpu-ratio-tlslpd/baseline")
	}
	b.ReportMetric(totals["tlslpd-tcp"].cpuPerSession()/totals["tlslpd-tls"].cpuPerSession(), "tlslpd-cpu-ratio-tcp/tls")
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
