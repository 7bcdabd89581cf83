package loadgen

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"tlslpd/cli"
	"tlslpd/client"
	"tlslpd/protocol"
)

// onOff is a switch taking a value (`--resumption on`), not a bool flag,
// because Go bool flags cannot take a separate argument.
type onOff struct{ v *bool }

func (o onOff) String() string {
	if o.v != nil && *o.v {
		return "on"
	}
	return "off"
}

func (o onOff) Set(s string) error {
	switch strings.ToLower(s) {
	case "on", "true", "1", "yes":
		*o.v = true
	case "off", "false", "0", "no":
		*o.v = false
	default:
		return fmt.Errorf("%q: want on or off", s)
	}
	return nil
}

type cliOptions struct {
	cfg               Config
	cert, key, ca     string
	insecure, jsonOut bool
	serverName        string
	quiet             bool
	report, out       string
	thresholds        []Threshold
}

// thresholdFlag collects repeated --threshold flags, parsing each.
type thresholdFlag struct{ list *[]Threshold }

func (t thresholdFlag) String() string { return "" }

func (t thresholdFlag) Set(s string) error {
	th, err := ParseThreshold(s)
	if err != nil {
		return err
	}
	*t.list = append(*t.list, th)
	return nil
}

// Exit codes of `tlslpd bench load` and `tlslpd bench report`.
const (
	ExitOK        = 0
	ExitFailed    = 1 // could not run, or no session succeeded
	ExitUsage     = 2
	ExitThreshold = 3 // a --threshold was violated
)

func parseFlags(args []string) (*cliOptions, *flag.FlagSet, error) {
	o := &cliOptions{}
	c := &o.cfg
	c.WorkTimeout, c.OtherTimeout = protocol.DefaultWorkTimeout, protocol.DefaultOtherTimeout
	fs := flag.NewFlagSet("tlslpd bench load", flag.ContinueOnError)
	fs.StringVar(&c.Host, "host", protocol.DefaultHost, "server host")
	fs.IntVar(&c.Port, "port", protocol.DefaultPort, "server port")
	fs.StringVar(&o.cert, "client-cert", protocol.DefaultClientCert, "client certificate (PEM)")
	fs.StringVar(&o.key, "private-key", protocol.DefaultClientKey, "client private key (PEM)")
	fs.StringVar(&o.ca, "ca-cert", protocol.DefaultCACert, "CA certificate (PEM)")
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server's certificate, as the client's --insecure (loopback hosts only); the client certificate is still sent when its files exist")
	fs.IntVar(&c.Workers, "workers", 0, "closed model: N workers running sessions back to back (default 8 when no mode is given)")
	fs.Float64Var(&c.Rate, "rate", 0, "open model: R session arrivals per second")
	fs.IntVar(&c.MaxInflight, "max-inflight", 10000, "open model: cap on sessions in flight; arrivals beyond it wait, and the wait counts as latency")
	fs.IntVar(&c.Park, "park", 0, "park mode: open N sessions and hold them at WORK")
	fs.DurationVar(&c.Hold, "hold", 10*time.Second, "park mode: how long to hold")
	fs.DurationVar(&c.Duration, "duration", 0, "start sessions for D (default 10s unless --sessions)")
	fs.DurationVar(&c.Grace, "grace", DefaultGrace, "after --duration, how long sessions in flight may finish before they are cut and count as unfinished")
	fs.IntVar(&c.Sessions, "sessions", 0, "start N sessions at most")
	fs.Var(onOff{&c.Resumption}, "resumption", "TLS session resumption: on or off")
	fs.BoolVar(&c.Plain, "plain", false, "play sessions over plain TCP, for a tlslpd --listen tcp:// (or auto://) listener: no TLS handshake, no certificate files read")
	fs.StringVar(&o.serverName, "server-name", "", "server name to ask for (SNI) and verify the server's certificate against (default: --host)")
	fs.IntVar(&c.Identities, "identities", 0, "make N transient self-signed ECDSA P-256 client certificates at start and spread sessions over them, instead of --client-cert (for a server in --client-auth any mode)")
	fs.IntVar(&c.SourceIPs, "source-ips", 8, "spread connections over 127.0.0.1..127.0.0.K (loopback targets only)")
	fs.Var(client.PositiveSeconds{D: &c.WorkTimeout}, "work-timeout", "seconds allowed to solve WORK")
	fs.Var(client.PositiveSeconds{D: &c.OtherTimeout}, "other-timeout", "seconds allowed for every other step")
	fs.BoolVar(&o.jsonOut, "json", false, "print the summary as JSON on stdout")
	fs.StringVar(&o.report, "report", "", "write a self-contained HTML report to `FILE`")
	fs.StringVar(&o.out, "out", "", "write run metadata, per-interval counts and latency histograms to `FILE` (an HdrHistogram log; tlslpd bench report merges several)")
	fs.DurationVar(&c.Interval, "interval", time.Second, "length of the intervals --out and the report keep")
	fs.Var(thresholdFlag{&o.thresholds}, "threshold", "pass/fail criterion `EXPR`, repeatable: p99<50ms, tls.p90<5ms, errors<0.1%, unfinished<1, rate>=100; a violated one exits 3")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	fs.DurationVar(&c.ProgressInterval, "progress-interval", 0, "time between progress lines (default 1s on a terminal, 5s otherwise)")
	if err := cli.Parse(fs, args); err != nil {
		return nil, fs, err
	}
	modes := 0
	for _, on := range []bool{c.Workers != 0, c.Rate != 0, c.Park != 0} {
		if on {
			modes++
		}
	}
	for _, n := range []struct {
		flag  string
		value float64
	}{
		{"workers", float64(c.Workers)}, {"rate", c.Rate}, {"park", float64(c.Park)}, {"sessions", float64(c.Sessions)},
		{"source-ips", float64(c.SourceIPs)}, {"identities", float64(c.Identities)},
	} {
		if n.value < 0 {
			return nil, fs, fmt.Errorf("--%s %v: must not be negative", n.flag, n.value)
		}
	}
	switch {
	case modes > 1:
		return nil, fs, errors.New("--workers, --rate and --park are exclusive")
	case c.MaxInflight <= 0:
		return nil, fs, fmt.Errorf("--max-inflight %d: must be positive", c.MaxInflight)
	case c.Duration < 0 || c.Hold <= 0 || c.Grace < 0 || c.ProgressInterval < 0:
		return nil, fs, errors.New("--duration, --grace and --progress-interval must not be negative and --hold must be positive")
	case c.Interval < 100*time.Millisecond:
		return nil, fs, errors.New("--interval must be at least 100ms (each interval writes a histogram per phase)")
	case c.Port < 1 || c.Port > 65535:
		return nil, fs, fmt.Errorf("--port %d out of range", c.Port)
	case o.insecure && !isLoopbackHost(c.Host):
		return nil, fs, fmt.Errorf("--insecure skips verifying the server, so it is refused for non-loopback host %q", c.Host)
	case c.Plain && (o.insecure || c.Resumption || c.Identities > 0 || o.serverName != ""):
		return nil, fs, errors.New("--plain uses no TLS, so --insecure, --resumption, --identities and --server-name do not apply")
	case SameFile(o.out, o.report):
		return nil, fs, fmt.Errorf("--out and --report both name %s: give each its own file", o.out)
	}
	// A flag that cannot act in the chosen mode is an error, not a no-op.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, needs := range map[string]bool{
		"max-inflight": c.Rate > 0,
		"hold":         c.Park > 0,
		"grace":        c.Park == 0 && (c.Duration > 0 || c.Sessions == 0),
		"duration":     c.Park == 0,
		"sessions":     c.Park == 0,
	} {
		if set[name] && !needs {
			return nil, fs, fmt.Errorf("--%s does nothing here: %s", name, map[string]string{
				"max-inflight": "it caps the open model (--rate)",
				"hold":         "it is park mode's (--park)",
				"grace":        "it follows --duration",
				"duration":     "park mode holds for --hold",
				"sessions":     "park mode opens --park sessions",
			}[name])
		}
	}
	for _, t := range o.thresholds {
		if c.Plain && t.Phase == phaseNames[phTLS] {
			return nil, fs, fmt.Errorf("--threshold %s: plain TCP (--plain) has no TLS handshake to measure", t.Expr)
		}
	}
	if set["source-ips"] && c.SourceIPs > 1 && len(SourceAddrs(c.Host, c.SourceIPs)) == 0 {
		return nil, fs, fmt.Errorf("--source-ips spreads connections over 127.0.0.x, so it needs an IPv4 loopback --host, not %q", c.Host)
	}
	if modes == 0 {
		c.Workers = 8
	}
	if c.Park == 0 && c.Duration == 0 && c.Sessions == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Grace == 0 {
		c.Grace = time.Nanosecond // --grace 0: cut at once (Config's 0 means the default)
	}
	c.Args = append([]string{}, args...)
	c.Flags = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { c.Flags[f.Name] = f.Value.String() })
	c.Flags["threshold"] = ""
	for i, t := range o.thresholds {
		if i > 0 {
			c.Flags["threshold"] += " "
		}
		c.Flags["threshold"] += t.Expr
	}
	return o, fs, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isTerminal reports whether w is a terminal, so the progress line (which
// rewrites itself with \r) never ends up in a log file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Main runs `tlslpd bench load`. Exit codes: 0 the run finished, at least
// one session completed (or parked) and every --threshold held; 1 it could
// not run or nothing succeeded; 2 bad flags; 3 a threshold was violated.
// The summary is printed on SIGINT and SIGTERM too (a second signal kills).
func Main(args []string, stdout, stderr io.Writer) int {
	o, fs, err := parseFlags(args)
	if err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "tlslpd bench load: %s\n", err)
		return ExitFailed
	}
	if !o.cfg.Plain {
		load := client.LoadTLS
		if o.cfg.Identities > 0 { // the transient certificates replace the files
			load = func(_, _, ca string, insecure bool) (*tls.Config, error) { return client.ServerTrust(ca, insecure) }
		}
		tcfg, err := load(o.cert, o.key, o.ca, o.insecure)
		if err != nil {
			return fail(err)
		}
		tcfg.ServerName = o.serverName // empty: the runner uses --host
		o.cfg.TLS = tcfg
	}
	o.cfg.Notices = stderr
	if !o.quiet {
		o.cfg.Progress, o.cfg.ProgressLive = stderr, isTerminal(stderr)
	}
	// Output files are created before the run, so a bad path fails now
	// rather than after the whole run.
	files, err := createOutputs(o.out, o.report)
	if err != nil {
		return fail(err)
	}
	defer files.closeAll()
	if files.out != nil {
		o.cfg.Out = files.out
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal takes the default action
	}()
	sum, err := Run(ctx, o.cfg)
	if err != nil && sum.SchemaVersion == 0 {
		files.removeAll()
		return fail(err)
	}
	code := ExitOK
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd bench load: %s\n", err)
		code = ExitFailed
	}
	if c := Conclude(&sum, o.thresholds); code == ExitOK {
		code = c
	}
	if err := Emit(&sum, o.jsonOut, stdout); err != nil {
		return fail(err)
	}
	if err := files.finish(&sum, stderr); err != nil {
		return fail(err)
	}
	if sum.Counts.Completed == 0 && (sum.Park == nil || sum.Park.Parked == 0) {
		fmt.Fprintf(stderr, "tlslpd bench load: no session succeeded (%d sessions)\n", sum.Sessions)
		return ExitFailed
	}
	return code
}

// Conclude checks the thresholds into sum and returns ExitThreshold when
// one is violated, ExitOK otherwise.
func Conclude(sum *Summary, thresholds []Threshold) int {
	code := ExitOK
	for _, t := range thresholds {
		r := t.Check(sum)
		sum.Thresholds = append(sum.Thresholds, r)
		if !r.OK {
			code = ExitThreshold
		}
	}
	return code
}

// Emit prints sum as JSON or as text.
func Emit(sum *Summary, asJSON bool, w io.Writer) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		return nil
	}
	if err := sum.WriteText(w); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// outputs are the files a run writes, opened before it starts.
type outputs struct {
	outPath, reportPath string
	out, report         *os.File
}

func createOutputs(outPath, reportPath string) (*outputs, error) {
	f := &outputs{outPath: outPath, reportPath: reportPath}
	var err error
	if outPath != "" {
		if f.out, err = os.Create(outPath); err != nil {
			return nil, fmt.Errorf("--out: %w", err)
		}
	}
	if reportPath != "" {
		if f.report, err = os.Create(reportPath); err != nil {
			f.removeAll()
			return nil, fmt.Errorf("--report: %w", err)
		}
	}
	return f, nil
}

func (f *outputs) closeAll() {
	for _, file := range []*os.File{f.out, f.report} {
		if file != nil {
			_ = file.Close()
		}
	}
}

func (f *outputs) removeAll() {
	f.closeAll()
	for _, p := range []string{f.outPath, f.reportPath} {
		if p != "" {
			_ = os.Remove(p)
		}
	}
	f.out, f.report = nil, nil
}

// finish writes the report and closes the files, saying where they are.
func (f *outputs) finish(sum *Summary, stderr io.Writer) error {
	if f.out != nil {
		err := f.out.Close()
		f.out = nil
		if err != nil {
			return fmt.Errorf("--out %s: %w", f.outPath, err)
		}
		fmt.Fprintf(stderr, "tlslpd bench load: wrote results to %s (merge with: tlslpd bench report %s ...)\n", f.outPath, f.outPath)
	}
	if f.report != nil {
		err := WriteReport(f.report, sum)
		if cerr := f.report.Close(); err == nil {
			err = cerr
		}
		f.report = nil
		if err != nil {
			return fmt.Errorf("--report %s: %w", f.reportPath, err)
		}
		fmt.Fprintf(stderr, "tlslpd bench load: wrote report to %s\n", f.reportPath)
	}
	return nil
}
