package adversary

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"tlslpd/cli"
	"tlslpd/client"
	"tlslpd/protocol"
)

// attackKinds are the --kind values of `tlslpd bench attack`, in the
// order --help explains them (attackHelp).
var attackKinds = []string{"stall", "silent", "partial", "trickle", "trickle-flight", "keyupdate", "empty", "alerts", "renegotiation", "pipeline"}

// attackHelp says what each kind does, for --help.
var attackHelp = map[string]string{
	"stall":          "a complete ClientHello, then nothing: a suspended handshake each",
	"silent":         "connect and send nothing at all: a connection, no handshake",
	"partial":        "a 16 KiB handshake record a byte short, then nothing: the bytes a connection holds before its handshake",
	"trickle":        "the ClientHello one byte per --trickle",
	"trickle-flight": "the ClientHello at once, the client's second flight one byte per --trickle",
	"keyupdate":      "after the handshake, TLS 1.3 KeyUpdate(update_requested) records, a byte of line data every --data-every",
	"empty":          "after the handshake, application-data records with no data (--tls12 for TLS 1.2)",
	"alerts":         "after the handshake, warning-level user_canceled alerts (--tls12 for TLS 1.2)",
	"renegotiation":  "after a TLS 1.2 handshake, a new ClientHello inside the session",
	"pipeline":       "a client that never reads: a whole session's replies written over and over without waiting",
}

// Main runs `tlslpd bench attack`: one attack against a tlslpd on a
// loopback address, with a line of counters every second and a summary,
// so an operator can watch the daemon's defences (its metrics and logs)
// hold. Exit 0 when the attack ran its course, 1 when it could not start,
// 2 on a bad command line.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tlslpd bench attack", flag.ContinueOnError)
	kind := fs.String("kind", "stall", fmt.Sprintf("the attack: %v", attackKinds))
	host := fs.String("host", "127.0.0.1", "server address (loopback only)")
	port := fs.Int("port", protocol.DefaultPort, "server port")
	conns := fs.Int("conns", 200, "connections (stall, silent, partial, trickle*) or flooders (floods, pipeline)")
	sources := fs.Int("sources", 30, "source addresses 127.0.0.F.. to spread the connections over")
	first := fs.Int("first-source", 2, "F: the first source address is 127.0.0.F (the honest client keeps 127.0.0.1)")
	duration := fs.Duration("duration", 30*time.Second, "how long to hold the attack")
	trickle := fs.Duration("trickle", time.Second, "trickle*: the pause between single bytes")
	hold := fs.Bool("hold", true, "reopen what the server closes (stall, silent, partial, trickle*, floods)")
	tls12 := fs.Bool("tls12", false, "floods: a TLS 1.2 session (empty, alerts, renegotiation)")
	dataEvery := fs.Int("data-every", 4, "floods: a byte of line data after every N records")
	token := fs.String("token", protocol.DefaultToken, "pipeline: the server's --token")
	nBits := fs.Int("n-bits", protocol.DefaultNBits, "pipeline: the server's --n_bits")
	caCert := fs.String("ca-cert", protocol.DefaultCACert, "CA certificate (PEM)")
	clientCert := fs.String("client-cert", protocol.DefaultClientCert, "client certificate (PEM)")
	clientKey := fs.String("private-key", protocol.DefaultClientKey, "client private key (PEM)")
	insecure := fs.Bool("insecure", false, "present no client certificate")
	if err := cli.Parse(fs, args); err != nil {
		code := cli.Exit(fs, err, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "\nattack kinds (--kind):\n")
			for _, k := range attackKinds {
				fmt.Fprintf(stdout, "  %-15s %s\n", k, attackHelp[k])
			}
		}
		return code
	}
	fail := func(err error) int { return cli.Exit(fs, err, stdout, stderr) }
	switch {
	case !slices.Contains(attackKinds, *kind):
		return fail(fmt.Errorf("--kind %q: want one of %v", *kind, attackKinds))
	case *conns < 1 || *sources < 1:
		return fail(errors.New("--conns and --sources must be at least 1"))
	case *first < 1 || *first+*sources > 1<<24:
		return fail(errors.New("--first-source and --sources must stay inside 127.0.0.0/8"))
	case *duration <= 0 || *trickle <= 0 || *dataEvery < 1:
		return fail(errors.New("--duration, --trickle and --data-every must be positive"))
	}
	tlsCfg, err := client.LoadTLS(*clientCert, *clientKey, *caCert, *insecure)
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd bench attack: %s\n", cli.OneLine(err))
		return 1
	}
	target := Target{Addr: net.JoinHostPort(*host, strconv.Itoa(*port)), TLS: tlsCfg}
	if err := target.check(); err != nil {
		return fail(err)
	}
	srcs := Sources(*first, *sources)

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	// The attack runs on ctx (a signal ends it); the clock on held, so
	// the summary can be read while the attack still holds.
	held, stop := context.WithTimeout(ctx, *duration)
	defer stop()

	var (
		report func() string
		end    func()
	)
	switch *kind {
	case "stall", "silent", "partial", "trickle", "trickle-flight":
		st := Stall{Target: target, Sources: srcs, Conns: *conns, Hold: *hold,
			Silent: *kind == "silent", TrickleAfterHello: *kind == "trickle-flight"}
		if *kind == "partial" {
			st.Partial = maxPlaintext - 1 // a 16 KiB first record, a byte short
		}
		if *kind == "trickle" || *kind == "trickle-flight" {
			st.Trickle = *trickle
		}
		run, err := st.Start(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "tlslpd bench attack: %s\n", cli.OneLine(err))
			return 1
		}
		report = func() string {
			s := run.Stats()
			return fmt.Sprintf("open %d, holding %d, opened %d, closed by the server %d, connect errors %d",
				s.Open, s.Stalled, s.Opened, s.ClosedByServer, s.DialErrors)
		}
		end = run.Stop
	case "keyupdate", "empty", "alerts", "renegotiation":
		fk := map[string]FloodKind{"keyupdate": KeyUpdates, "empty": EmptyRecords, "alerts": WarningAlerts, "renegotiation": Renegotiation}[*kind]
		var runs []*FloodRun
		for i := range *conns {
			run, err := Flood{Target: target, Source: srcs[i%len(srcs)], Kind: fk, DataEvery: *dataEvery,
				Reconnect: *hold, TLS12: *tls12 || fk == Renegotiation}.Start(ctx)
			if err != nil {
				fmt.Fprintf(stderr, "tlslpd bench attack: %s\n", cli.OneLine(err))
				return 1
			}
			runs = append(runs, run)
		}
		report = func() string {
			var t FloodStats
			for _, r := range runs {
				s := r.Stats()
				t.Sessions += s.Sessions
				t.Records += s.Records
				t.ClosedByServer += s.ClosedByServer
				t.Errors += s.Errors
			}
			line := fmt.Sprintf("sessions %d, records without data %d, closed by the server %d, refused or failed %d",
				t.Sessions, t.Records, t.ClosedByServer, t.Errors)
			if err := runs[0].LastErr(); err != nil {
				line += fmt.Sprintf(" (e.g. %s)", cli.OneLine(err))
			}
			return line
		}
		end = func() {
			for _, r := range runs {
				r.Stop()
			}
		}
	case "pipeline":
		type result struct {
			res PipelineResult
			err error
		}
		done := make(chan result, *conns)
		for i := range *conns {
			go func() {
				res, err := Pipeline{Target: target, Source: srcs[i%len(srcs)], Token: *token, NBits: *nBits}.Run(held)
				done <- result{res, err}
			}()
		}
		closed, failed, finished := 0, 0, 0
		report = func() string {
			for {
				select {
				case r := <-done:
					finished++
					switch {
					case r.err != nil:
						failed++
					case r.res.ClosedByServer:
						closed++
					}
					continue
				default:
				}
				break
			}
			return fmt.Sprintf("pipeliners finished %d of %d: closed by the server %d, failed %d", finished, *conns, closed, failed)
		}
		end = func() {}
	default:
		return fail(fmt.Errorf("--kind %q: want one of %v", *kind, attackKinds))
	}

	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for running := true; running; {
		select {
		case <-held.Done():
			running = false
		case <-tick.C:
			fmt.Fprintf(stdout, "%5.0fs  %s\n", time.Since(start).Seconds(), report())
		}
	}
	final := report() // as it stood when the attack ended, before letting go
	end()
	fmt.Fprintf(stdout, "attack %s on %s over %s: %s\n", *kind, target.Addr, time.Since(start).Round(time.Millisecond), final)
	return 0
}
