package suite

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"tlslpd/bench/loadgen"
)

// server is one server under test, started fresh for each measurement so
// every idle reading starts from a new process.
type server struct {
	name        string
	c           *child
	port        int
	metricsAddr string // empty: no /metrics (nginx)
	tree        bool   // sum CPU over the process and its children
}

type serverKind int

const (
	kindTlslpd serverKind = iota
	kindBaseline
	kindNginx
	// kindTlslpdQuiet is tlslpd without its per-session INFO log line, to
	// show what that line costs; targets never use it.
	kindTlslpdQuiet
	// kindTlslpdAny and kindBaselineAny accept any client certificate
	// (--client-auth any): the handshake section's identity rows.
	kindTlslpdAny
	kindBaselineAny
	// kindTlslpdPlain, kindTlslpdQuietPlain and kindBaselinePlain serve
	// plain TCP (tlslpd --listen tcp://, the baseline --plain): the
	// transports section.
	kindTlslpdPlain
	kindTlslpdQuietPlain
	kindBaselinePlain
)

func (k serverKind) String() string {
	return [...]string{NameTlslpd, NameBaseline, NameNginx, NameTlslpdQuiet, NameTlslpdAny, NameBaselineAny,
		NameTlslpd + " tcp", NameTlslpdQuiet + " tcp", NameBaseline + " tcp"}[k]
}

// plain says whether k serves plain TCP.
func (k serverKind) plain() bool {
	return k == kindTlslpdPlain || k == kindTlslpdQuietPlain || k == kindBaselinePlain
}

// start launches a server of kind k; workTimeout is in seconds.
func (r *runner) start(ctx context.Context, k serverKind, workTimeout int) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{name: k.String(), port: port}
	var argv []string
	switch k {
	case kindTlslpd, kindBaseline, kindTlslpdQuiet, kindTlslpdAny, kindBaselineAny, kindTlslpdPlain, kindTlslpdQuietPlain, kindBaselinePlain:
		mport, err := freePort()
		if err != nil {
			return nil, err
		}
		s.metricsAddr = "127.0.0.1:" + strconv.Itoa(mport)
		argv = []string{r.opt.Bin}
		baseline := k == kindBaseline || k == kindBaselineAny || k == kindBaselinePlain
		if baseline {
			argv = append(argv, "bench", "baseline", "--inject", "reference")
		}
		switch {
		case k.plain() && baseline:
			argv = append(argv, "--plain", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
		case k.plain():
			argv = append(argv, "--listen", "tcp://127.0.0.1:"+strconv.Itoa(port))
		default:
			argv = append(argv, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
		}
		argv = append(argv,
			"--server-cert", r.files.ServerCert, "--server-key", r.files.ServerKey, "--ca-cert", r.files.CACert,
			"--n_bits", strconv.Itoa(r.opt.NBits), "--token", r.opt.Token,
			"--work-timeout", strconv.Itoa(workTimeout),
			"--metrics-addr", s.metricsAddr)
		if k == kindTlslpdQuiet || k == kindTlslpdQuietPlain {
			argv = append(argv, "--log-level", "WARNING")
		}
		if k == kindTlslpdAny || k == kindBaselineAny {
			argv = append(argv, "--client-auth", "any")
		}
	case kindNginx:
		s.tree = true
		conf, err := r.writeNginxConf(port)
		if err != nil {
			return nil, err
		}
		argv = []string{r.opt.Nginx.Bin, "-e", filepath.Join(filepath.Dir(conf), "error.log"),
			"-p", filepath.Dir(conf), "-c", conf, "-g", "daemon off;"}
	}
	argv = r.cpus.wrap(argv)
	r.recordCommand(argv)
	s.c, err = startChild(s.name, argv, r.dir)
	if err != nil {
		return nil, err
	}
	addrs := []string{"127.0.0.1:" + strconv.Itoa(port)}
	if s.metricsAddr != "" {
		addrs = append(addrs, s.metricsAddr)
	}
	if err := s.c.waitListening(ctx, 15*time.Second, addrs...); err != nil {
		s.c.stop(5 * time.Second)
		return nil, err
	}
	return s, nil
}

func (s *server) stop() { s.c.stop(5 * time.Second) }

// recordCommand keeps each distinct server command line for BENCHMARKS.md,
// with the temp dir and the per-run ports replaced by placeholders.
func (r *runner) recordCommand(argv []string) {
	parts := make([]string, len(argv))
	for i, a := range argv {
		a = strings.ReplaceAll(a, r.dir, "$TMP")
		if a == r.opt.Bin {
			a = "bin/tlslpd"
		}
		if i > 0 && (argv[i-1] == "--port") {
			a = "$PORT"
		}
		if i > 0 && argv[i-1] == "--listen" {
			a = a[:strings.LastIndexByte(a, ':')+1] + "$PORT"
		}
		if i > 0 && argv[i-1] == "--metrics-addr" {
			a = "127.0.0.1:$METRICS_PORT"
		}
		if strings.ContainsAny(a, " ;") {
			a = "'" + a + "'"
		}
		parts[i] = a
	}
	line := strings.Join(parts, " ")
	for _, c := range r.report.Commands {
		if c == line {
			return
		}
	}
	r.report.Commands = append(r.report.Commands, line)
}

func (r *runner) sample(s *server) (ProcSample, error) {
	if s.tree {
		return r.proc.SampleTree(s.c.pid())
	}
	return r.proc.Sample(s.c.pid())
}

func (r *runner) point(ctx context.Context, s *server) (Point, error) {
	ps, err := r.sample(s)
	if err != nil {
		return Point{}, err
	}
	p := Point{RSSBytes: ps.RSSBytes, FDs: ps.FDs, Goroutines: -1}
	if s.metricsAddr != "" {
		g, err := Goroutines(ctx, r.scrape, s.metricsAddr)
		if err != nil {
			return p, err
		}
		p.Goroutines = g
	}
	return p, nil
}

func (r *runner) loadConfig(s *server) loadgen.Config {
	return loadgen.Config{
		Host: "127.0.0.1", Port: s.port, TLS: r.client,
		SourceIPs: r.opt.SourceIPs,
		// The suite's own descriptors and the children's pipes are few;
		// loadgen's reserve covers them.
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// machineInfo reads the CPU model and kernel from /proc.
func machineInfo() Machine {
	m := Machine{Cores: numCPU(), Go: goVersion()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = ParseCPUModel(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo.
func ParseCPUModel(cpuinfo string) string {
	for line := range strings.Lines(cpuinfo) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
