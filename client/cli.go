package client

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"tlslpd/cli"
	"tlslpd/config"
	"tlslpd/protocol"
	"tlslpd/reflog"
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
	if maxSeconds := int(math.MaxInt64 / int64(time.Second)); n > maxSeconds {
		// A larger count would wrap around in a time.Duration.
		return fmt.Errorf("%q is more than %d seconds (292 years)", s, maxSeconds)
	}
	*p.D = time.Duration(n) * time.Second
	return nil
}

type cliOptions struct {
	host, ports, cert, key, ca, logLevel string
	insecure, tutorial, refLog, quiet    bool
	plain                                bool
	transientCert                        bool
	serverName                           string
	refLogSet                            bool
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
	fs.BoolVar(&o.insecure, "insecure", false, "do not verify the server's certificate, like the reference client (loopback hosts only); the client certificate is still sent when its files exist")
	fs.BoolVar(&o.plain, "plain", false, "play the session over plain TCP, for a tlslpd --listen tcp:// (or auto://) listener: no TLS, no certificate files read")
	fs.StringVar(&o.cfg.WorkBinary, "work-binary", "", "solve WORK with this program, run as 'BINARY TOKEN N_BITS' in its directory with only LC_ALL=C set; the suffix is taken from its first stdout line starting 'RESULT:' (default: the built-in multi-core solver)")
	fs.BoolVar(&o.refLog, "reference-log", false, "write the reference client's log lines to $XDG_STATE_HOME/tlslp/logs/client.log (default ~/.local/state/tlslp/logs/) and its WARNING lines to stderr (on by default with --tutorial)")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress lines while solving WORK")
	fs.StringVar(&o.logLevel, "log-level", protocol.DefaultLogLevel, "DEBUG, INFO, WARNING, ERROR or CRITICAL")
	fs.BoolVar(&o.tutorial, "tutorial", false, "narrate every step at INFO")
	fs.IntVar(&o.solverWorkers, "solver-workers", 0, "goroutines solving WORK (0: all cores)")
	fs.BoolVar(&o.transientCert, "transient-cert", false, "present a new self-signed client certificate (ECDSA P-256) made for this session instead of --client-cert/--private-key; its SHA-256 fingerprint is logged (for a server in --client-auth any mode)")
	fs.StringVar(&o.serverName, "server-name", "", "server name to ask for (SNI) and verify the server's certificate against (default: --host)")
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
		// The message names the flag already; drop config's "usage: " tag.
		return nil, fs, errors.New(strings.TrimPrefix(err.Error(), config.ErrUsage.Error()+": "))
	}
	if strings.TrimSpace(o.host) == "" {
		return nil, fs, errors.New("--host must not be empty")
	}
	if o.solverWorkers < 0 {
		return nil, fs, fmt.Errorf("--solver-workers: %d is negative", o.solverWorkers)
	}
	if o.insecure && !config.IsLoopbackHost(o.host) {
		return nil, fs, fmt.Errorf("--insecure skips verifying the server, so it is refused for non-loopback host %q (use localhost, 127.0.0.0/8 or ::1)", o.host)
	}
	if o.plain && (o.insecure || o.transientCert || o.serverName != "") {
		return nil, fs, errors.New("--plain uses no TLS, so --insecure, --transient-cert and --server-name do not apply")
	}
	fs.Visit(func(f *flag.Flag) { o.refLogSet = o.refLogSet || f.Name == "reference-log" })
	if !o.refLogSet {
		o.refLog = o.tutorial
	}
	o.cfg.Host, o.cfg.Ports, o.cfg.Answers = o.host, ports, o.answers
	o.cfg.SolverWorkers, o.cfg.Tutorial, o.cfg.Plain = o.solverWorkers, o.tutorial, o.plain
	return o, fs, nil
}

// Exit statuses of `tlslpd client`, the reference client's: a session
// the server ended as the protocol says — DONE answered, or its random
// injected "FAIL <random_string>" — is a success.
const (
	ExitOK      = 0 // completed, or ended by the server's injected FAIL
	ExitFailed  = 1 // no server reachable, TLS refused, a FAIL for an error, a timeout, a protocol violation
	ExitUsage   = 2 // bad flags
	progressGap = 5 * time.Second
)

// InjectedFailNote explains the injected FAIL to a newcomer.
const InjectedFailNote = "this is the protocol's random injected failure, not an error: in normal mode each of the 20 body requests is FAIL with probability 1/9, " +
	"so only (8/9)^20 ≈ 9.5% of sessions reach DONE (a --tutorial server never injects it)"

// Main runs `tlslpd client`: one session with the reference client's flags.
// It returns the exit status (ExitOK, ExitFailed, ExitUsage).
func Main(args []string, stdout, stderr io.Writer) int {
	o, fs, err := parseFlags(args)
	if err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	level, _ := config.ParseLevel(o.logLevel) // validated in parseFlags
	if !o.quiet && level <= zerolog.InfoLevel {
		o.cfg.Progress, o.cfg.ProgressEvery = stderr, progressGap
	}
	var logOut io.Writer = zerolog.ConsoleWriter{Out: stderr, NoColor: true, TimeFormat: time.RFC3339}
	if o.refLog {
		refLevel, _ := reflog.ParseLevel(o.logLevel)
		path, err := reflog.Path("client.log", os.Getenv)
		if err != nil {
			fmt.Fprintf(stderr, "tlslpd client: --reference-log: %s\n", err)
			return ExitFailed
		}
		f, err := reflog.OpenFile(path, o.tutorial)
		if err != nil {
			fmt.Fprintf(stderr, "tlslpd client: %s\n", cli.OneLine(err))
			return ExitFailed
		}
		defer f.Close()
		ref := reflog.New(reflog.Options{Name: reflog.ClientName, Level: refLevel, File: f, Stderr: stderr, Tutorial: o.tutorial})
		o.cfg.RefLog = ref
		// Our own log lines take the reference's format too, from WARNING up.
		logOut = ref.ZerologWriter()
		level = max(level, zerolog.WarnLevel)
	}
	logger := zerolog.New(logOut).Level(level).With().Timestamp().Logger()
	o.cfg.Logger = &logger

	if !o.plain {
		tcfg, err := o.loadTLS(&logger)
		if err != nil {
			fmt.Fprintf(stderr, "tlslpd client: %s\n", cli.OneLine(err))
			return ExitFailed
		}
		o.cfg.TLS = tcfg
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, o.cfg)
	var sf *ServerFailError
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "session completed: port %d, n_bits %d, %d hashes in %s, %d body requests, total %s\n",
			res.Port, res.NBits, res.Hashes, res.Timing.Solve.Round(time.Millisecond), res.BodyRequests,
			res.Timing.Total.Round(time.Millisecond))
		return ExitOK
	case errors.As(err, &sf) && sf.Injected:
		fmt.Fprintf(stdout, "session ended by the server with %q after %d body requests: %s\n", sf.Line, res.BodyRequests, InjectedFailNote)
		return ExitOK
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "tlslpd client: interrupted by a signal: %s\n", cli.OneLine(err))
		return ExitFailed
	}
	fmt.Fprintf(stderr, "tlslpd client: session failed: %s\n", cli.OneLine(err))
	return ExitFailed
}
