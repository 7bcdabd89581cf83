package suite

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"tlslpd/cli"
)

func numCPU() int       { return runtime.NumCPU() }
func goVersion() string { return runtime.Version() }

// Main is `tlslpd bench suite [flags]`: run the side-by-side suite and
// write BENCHMARKS.md. Exit 0 when the report was written (targets not met
// are reported in it, not in the exit code), 1 when it could not be, 2 on
// bad flags.
func Main(args []string, stdout, stderr io.Writer) int {
	p := Defaults()
	fs := flag.NewFlagSet("tlslpd bench suite", flag.ContinueOnError)
	out := fs.String("out", "BENCHMARKS.md", "Markdown report to write")
	jsonOut := fs.String("json", "", "also write the raw figures as JSON to this file")
	bin := fs.String("bin", "", "tlslpd binary to run as server and baseline (default: this executable)")
	nginx := fs.String("nginx", "", "nginx binary (default: search PATH and /usr/sbin)")
	noNginx := fs.Bool("no-nginx", false, "skip the nginx row")
	noPin := fs.Bool("no-pin", false, "do not split the CPUs between the servers and the load generator (done where there are at least 4)")
	only := fs.String("only", strings.Join(sectionNames, ","), "comma-separated sections to run: "+strings.Join(sectionNames, ", "))
	fs.IntVar(&p.Workers, "workers", p.Workers, "closed-model workers in the sessions test; the targets are judged here")
	fs.IntVar(&p.LightWorkers, "light-workers", p.LightWorkers, "a lighter closed-model load shown beside it (0 skips it)")
	fs.DurationVar(&p.Warmup, "warmup", p.Warmup, "warm-up before each throughput measurement")
	fs.DurationVar(&p.Duration, "duration", p.Duration, "one server's window of load in each round of the sessions test")
	fs.IntVar(&p.Park, "park", p.Park, "sessions to park")
	fs.DurationVar(&p.Hold, "hold", p.Hold, "how long parked sessions are held")
	fs.IntVar(&p.HandshakeWorkers, "handshake-workers", p.HandshakeWorkers, "handshake-only workers")
	fs.DurationVar(&p.HandshakeDuration, "handshake-duration", p.HandshakeDuration, "measured window of the handshake test")
	fs.IntVar(&p.SessionRounds, "session-rounds", p.SessionRounds, "turns of the sessions test, each a --duration window per server (summed, order alternating)")
	fs.IntVar(&p.Rounds, "rounds", p.Rounds, "rounds of the handshake test, each on fresh servers (summed, order alternating)")
	fs.IntVar(&p.TransportWorkers, "transport-workers", p.TransportWorkers, "closed-model workers in the transports section")
	fs.IntVar(&p.TransportRounds, "transport-rounds", p.TransportRounds, "turns of the transports section, each a --duration window per server (summed, order alternating)")
	fs.IntVar(&p.CoreRounds, "core-rounds", p.CoreRounds, "turns per server core count in the cores section")
	fs.IntVar(&p.TimerRounds, "timer-rounds", p.TimerRounds, "timer benchmark repetitions (median kept)")
	fs.IntVar(&p.PoWRounds, "pow-rounds", p.PoWRounds, "PoW benchmark rounds (best kept)")
	if err := cli.Parse(fs, args); err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	sections, err := parseSections(*only)
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd bench suite: %v\n", err)
		return 2
	}
	if p.Workers < 1 || p.Park < 1 || p.HandshakeWorkers < 1 || p.Duration <= 0 || p.Hold <= 0 || p.HandshakeDuration <= 0 || p.Warmup <= 0 || p.TimerRounds < 1 || p.PoWRounds < 1 || p.Rounds < 1 || p.SessionRounds < 1 || p.LightWorkers < 0 || p.TransportWorkers < 1 || p.TransportRounds < 1 {
		fmt.Fprintln(stderr, "tlslpd bench suite: counts and durations must be positive")
		return 2
	}
	opt := Options{Params: p, Sections: sections, Log: stderr, Bin: *bin, NoPin: *noPin}
	if opt.Bin == "" {
		if opt.Bin, err = os.Executable(); err != nil {
			fmt.Fprintf(stderr, "tlslpd bench suite: locate own binary: %v\n", err)
			return 1
		}
	}
	var nginxSkip string
	if sections["handshake"] {
		if *noNginx {
			nginxSkip = "--no-nginx given"
		} else if opt.Nginx, err = FindNginx(*nginx); err != nil {
			nginxSkip = err.Error()
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := Run(ctx, opt)
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd bench suite: %v\n", err)
		return 1
	}
	if nginxSkip != "" {
		// Replace the generic skip line with the specific reason.
		for i, s := range rep.Skipped {
			if strings.HasPrefix(s, "handshake: nginx row skipped") {
				rep.Skipped[i] = "handshake: nginx row skipped: " + nginxSkip + " (`make bench-deps` installs nginx-light and libnginx-mod-stream)"
			}
		}
	}
	rep.Commands = append([]string{suiteCommand(args)}, rep.Commands...)
	if err := writeReport(*out, Render(rep), stderr); err != nil {
		fmt.Fprintf(stderr, "tlslpd bench suite: write report: %v\n", err)
		return 1
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonOut, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "tlslpd bench suite: write JSON: %v\n", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "wrote %s in %s\n", *out, time.Since(start).Round(time.Second))
	for _, t := range Targets(*rep) {
		fmt.Fprintf(stdout, "  %-38s %-30s %-16s %s\n", t.Name, t.Want, t.Got, t.Status())
	}
	return 0
}

func parseSections(s string) (map[string]bool, error) {
	m := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		known := false
		for _, k := range sectionNames {
			known = known || k == name
		}
		if !known {
			return nil, fmt.Errorf("--only: unknown section %q (want %s)", name, strings.Join(sectionNames, ", "))
		}
		m[name] = true
	}
	if len(m) == 0 {
		return nil, errors.New("--only: no section")
	}
	return m, nil
}

func suiteCommand(args []string) string {
	return strings.TrimSpace("bin/tlslpd bench suite " + strings.Join(args, " "))
}

// writeReport writes the rendered report to path, keeping the hand-written
// part below HandWrittenMarker of the file it replaces. The old file is
// read now, after the run, so edits made while the suite ran are kept.
func writeReport(path, rendered string, stderr io.Writer) error {
	previous, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read the hand-written part: %w", err)
	}
	text, kept := KeepHandWritten(rendered, string(previous))
	if !kept {
		fmt.Fprintf(stderr, "tlslpd bench suite: warning: %s had no line %q, so none of it was kept (git diff shows what was there)\n", path, HandWrittenMarker)
	}
	return os.WriteFile(path, []byte(text), 0o644)
}
