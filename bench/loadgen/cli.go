package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
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
	report            string
}

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
	fs.BoolVar(&o.insecure, "insecure", false, "present no client certificate")
	fs.IntVar(&c.Workers, "workers", 0, "closed model: N workers running sessions back to back (default 8 when no mode is given)")
	fs.Float64Var(&c.Rate, "rate", 0, "open model: R session arrivals per second")
	fs.IntVar(&c.MaxInflight, "max-inflight", 10000, "open model: cap on concurrent sessions")
	fs.IntVar(&c.Park, "park", 0, "park mode: open N sessions and hold them at WORK")
	fs.DurationVar(&c.Hold, "hold", 10*time.Second, "park mode: how long to hold")
	fs.DurationVar(&c.Duration, "duration", 0, "stop starting sessions after D (default 10s unless --sessions)")
	fs.IntVar(&c.Sessions, "sessions", 0, "stop after N sessions")
	fs.IntVar(&c.NBits, "n-bits", protocol.DefaultNBits, "expected difficulty (the server decides; the report shows what it sent)")
	fs.Var(onOff{&c.Resumption}, "resumption", "TLS session resumption: on or off")
	fs.IntVar(&c.SourceIPs, "source-ips", 8, "spread connections over 127.0.0.1..127.0.0.K (loopback targets only)")
	fs.Var(client.PositiveSeconds{D: &c.WorkTimeout}, "work-timeout", "seconds allowed to solve WORK")
	fs.Var(client.PositiveSeconds{D: &c.OtherTimeout}, "other-timeout", "seconds allowed for every other step")
	fs.BoolVar(&o.jsonOut, "json", false, "print the summary as JSON (schema_version 1)")
	fs.StringVar(&o.report, "report", "", "write a self-contained HTML report to FILE")
	if err := cli.Parse(fs, args); err != nil {
		return nil, fs, err
	}
	modes := 0
	for _, on := range []bool{c.Workers != 0, c.Rate != 0, c.Park != 0} {
		if on {
			modes++
		}
	}
	switch {
	case modes > 1:
		return nil, fs, errors.New("--workers, --rate and --park are exclusive")
	case c.Workers < 0 || c.Rate < 0 || c.Park < 0 || c.Sessions < 0 || c.MaxInflight <= 0 || c.SourceIPs < 0:
		return nil, fs, errors.New("--workers, --rate, --park, --sessions, --max-inflight and --source-ips must not be negative")
	case c.Duration < 0 || c.Hold <= 0:
		return nil, fs, errors.New("--duration must not be negative and --hold must be positive")
	case c.Port < 1 || c.Port > 65535:
		return nil, fs, fmt.Errorf("--port %d out of range", c.Port)
	case c.NBits < 0 || c.NBits > protocol.MaxNBits:
		return nil, fs, fmt.Errorf("--n-bits %d outside 0..%d", c.NBits, protocol.MaxNBits)
	}
	if modes == 0 {
		c.Workers = 8
	}
	if c.Park == 0 && c.Duration == 0 && c.Sessions == 0 {
		c.Duration = 10 * time.Second
	}
	return o, fs, nil
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

// Main runs `tlslpd bench load`. Exit codes: 0 the run finished and at
// least one session completed (or parked), 1 it could not run or nothing
// succeeded, 2 bad flags.
func Main(args []string, stdout, stderr io.Writer) int {
	o, fs, err := parseFlags(args)
	if err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	tcfg, err := client.LoadTLS(o.cert, o.key, o.ca, o.insecure)
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd bench load: %s\n", err)
		return 1
	}
	o.cfg.TLS = tcfg
	o.cfg.Notices = stderr
	if isTerminal(stderr) {
		o.cfg.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := Run(ctx, o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd bench load: %s\n", err)
		return 1
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&sum); err != nil {
			fmt.Fprintf(stderr, "tlslpd bench load: write JSON: %s\n", err)
			return 1
		}
	} else if err := sum.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "tlslpd bench load: write summary: %s\n", err)
		return 1
	}
	if o.report != "" {
		if err := writeReportFile(o.report, &sum); err != nil {
			fmt.Fprintf(stderr, "tlslpd bench load: %s\n", err)
			return 1
		}
	}
	if sum.Counts.Completed == 0 && (sum.Park == nil || sum.Park.Parked == 0) {
		fmt.Fprintf(stderr, "tlslpd bench load: no session succeeded (%s)\n", strconv.FormatUint(sum.Sessions, 10)+" finished")
		return 1
	}
	return 0
}

func writeReportFile(path string, sum *Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := WriteReport(f, sum); err != nil {
		f.Close()
		return fmt.Errorf("report %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	return nil
}
