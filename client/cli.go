package client

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"tlslpd/cli"
	"tlslpd/config"
	"tlslpd/protocol"
)

// ParsePorts parses a comma-separated port list such as "3115,1234".
func ParsePorts(s string) ([]int, error) {
	var ports []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		p, err := cli.ParseInt(f)
		if err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("invalid port %q in %q", f, s)
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// PositiveSeconds is a flag.Value for the reference's positive-int
// second timeouts.
type PositiveSeconds struct{ D *time.Duration }

func (p PositiveSeconds) String() string {
	if p.D == nil {
		return ""
	}
	return strconv.Itoa(int(p.D.Seconds()))
}

// Set accepts a positive integer number of seconds.
func (p PositiveSeconds) Set(s string) error {
	n, err := cli.ParseInt(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a positive integer", s)
	}
	*p.D = time.Duration(n) * time.Second
	return nil
}

type cliOptions struct {
	host, ports, cert, key, ca, logLevel string
	insecure, tutorial                   bool
	solverWorkers                        int
	answers                              map[string]string
	cfg                                  Config
}

func parseFlags(args []string) (*cliOptions, *flag.FlagSet, error) {
	o := &cliOptions{answers: map[string]string{}}
	o.cfg.WorkTimeout = protocol.DefaultWorkTimeout
	o.cfg.OtherTimeout = protocol.DefaultOtherTimeout
	fs := flag.NewFlagSet("tlslpd client", flag.ContinueOnError)
	defPorts := make([]string, len(protocol.ClientPorts))
	for i, p := range protocol.ClientPorts {
		defPorts[i] = strconv.Itoa(p)
	}
	fs.StringVar(&o.host, "host", protocol.DefaultHost, "server host")
	fs.StringVar(&o.ports, "ports", strings.Join(defPorts, ","), "comma-separated ports, tried in order")
	fs.StringVar(&o.cert, "client-cert", protocol.DefaultClientCert, "client certificate (PEM)")
	fs.StringVar(&o.key, "private-key", protocol.DefaultClientKey, "client private key (PEM)")
	fs.StringVar(&o.ca, "ca-cert", protocol.DefaultCACert, "CA certificate that signed the server's certificate (PEM)")
	fs.Var(PositiveSeconds{&o.cfg.WorkTimeout}, "work-timeout", "seconds allowed to solve WORK (positive int)")
	fs.Var(PositiveSeconds{&o.cfg.OtherTimeout}, "other-timeout", "seconds allowed for every other step (positive int)")
	fs.BoolVar(&o.insecure, "insecure", false, "present no client certificate (server verification stays on)")
	fs.StringVar(&o.logLevel, "log-level", protocol.DefaultLogLevel, "DEBUG, INFO, WARNING, ERROR or CRITICAL")
	fs.BoolVar(&o.tutorial, "tutorial", false, "narrate every step at INFO")
	fs.IntVar(&o.solverWorkers, "solver-workers", 0, "goroutines solving WORK (0: all cores)")
	fs.Func("answer", "CMD=VALUE answer for a body command (repeatable)", func(s string) error {
		cmd, val, ok := strings.Cut(s, "=")
		if !ok || !isBodyCommand(cmd) {
			return fmt.Errorf("%q: want CMD=VALUE with CMD one of %s", s, strings.Join(protocol.BodyCommands[:], " "))
		}
		o.answers[cmd] = val
		return nil
	})
	if err := cli.Parse(fs, args); err != nil {
		return nil, fs, err
	}
	ports, err := ParsePorts(o.ports)
	if err != nil {
		return nil, fs, fmt.Errorf("--ports: %w", err)
	}
	if _, err := config.ParseLevel(o.logLevel); err != nil {
		return nil, fs, fmt.Errorf("--log-level: %w", err)
	}
	if o.solverWorkers < 0 {
		return nil, fs, fmt.Errorf("--solver-workers: %d is negative", o.solverWorkers)
	}
	o.cfg.Host, o.cfg.Ports, o.cfg.Answers = o.host, ports, o.answers
	o.cfg.SolverWorkers, o.cfg.Tutorial = o.solverWorkers, o.tutorial
	return o, fs, nil
}

// Main runs `tlslpd client`: one session with the reference client's flags.
// It returns the exit code: 0 completed, 1 session failed, 2 bad flags.
func Main(args []string, stdout, stderr io.Writer) int {
	o, fs, err := parseFlags(args)
	if err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	level, _ := config.ParseLevel(o.logLevel) // validated in parseFlags
	logger := zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: true, TimeFormat: time.RFC3339}).Level(level).With().Timestamp().Logger()
	o.cfg.Logger = &logger

	tcfg, err := LoadTLS(o.cert, o.key, o.ca, o.insecure)
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd client: %s\n", cli.OneLine(err))
		return 1
	}
	o.cfg.TLS = tcfg

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := Run(ctx, o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd client: session failed: %s\n", cli.OneLine(err))
		return 1
	}
	fmt.Fprintf(stdout, "session completed: port %d, n_bits %d, %d hashes in %s, %d body requests, total %s\n",
		res.Port, res.NBits, res.Hashes, res.Timing.Solve.Round(time.Millisecond), res.BodyRequests,
		res.Timing.Total.Round(time.Millisecond))
	return 0
}
