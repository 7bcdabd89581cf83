package verify

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"
	"time"

	"tlslpd/cli"
	"tlslpd/protocol"
)

// Main runs `tlslpd bench verify`. Exit codes: 0 done, 1 the run failed,
// 2 bad flags.
func Main(args []string, stdout, stderr io.Writer) int {
	var cfg Config
	var jsonOut bool
	fs := flag.NewFlagSet("tlslpd bench verify", flag.ContinueOnError)
	fs.StringVar(&cfg.Token, "token", protocol.DefaultToken, "token the verifier is built for")
	fs.IntVar(&cfg.SuffixLen, "suffix-len", 16, "suffix length in bytes")
	fs.IntVar(&cfg.NBits, "n-bits", protocol.DefaultNBits, "difficulty passed to Check")
	fs.DurationVar(&cfg.Duration, "duration", time.Second, "length of each measurement")
	fs.IntVar(&cfg.Rounds, "rounds", 2, "rounds of measurements; the best of each is kept")
	fs.IntVar(&cfg.Workers, "workers", 0, "goroutines for the all-cores measurement (0: GOMAXPROCS)")
	fs.BoolVar(&jsonOut, "json", false, "print the result as JSON (schema_version 1)")
	if err := cli.Parse(fs, args); err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	switch {
	case cfg.Token == "" || cfg.SuffixLen <= 0 || cfg.Duration <= 0 || cfg.Rounds <= 0 || cfg.Workers < 0:
		fmt.Fprintln(stderr, "tlslpd bench verify: --token must not be empty; --suffix-len, --duration and --rounds must be positive; --workers not negative")
		return 2
	case cfg.NBits < 0 || cfg.NBits > protocol.MaxNBits || cfg.SuffixLen > protocol.MaxLineLength:
		fmt.Fprintf(stderr, "tlslpd bench verify: --n-bits must be 0..%d and --suffix-len at most %d\n", protocol.MaxNBits, protocol.MaxLineLength)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd bench verify: %s\n", err)
		return 1
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&res); err != nil {
			fmt.Fprintf(stderr, "tlslpd bench verify: %s\n", err)
			return 1
		}
		return 0
	}
	writeText(stdout, &res)
	return 0
}

func writeText(w io.Writer, r *Result) {
	fmt.Fprintf(w, "PoW verification, token %d bytes + suffix %d bytes, n_bits %d, GOMAXPROCS %d\n",
		r.TokenLen, r.SuffixLen, r.NBits, r.GOMAXPROCS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tgoroutines\tchecks/s\tper goroutine\t")
	row := func(name string, m Measurement) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t\n", name, m.Goroutines, m.PerSecond, m.PerCore)
	}
	row("Verifier.Check, one core", r.VerifyOne)
	row("sha256.Sum256, one core", r.SHA256One)
	row("Verifier.Check, all cores", r.VerifyAll)
	row("sha256.Sum256, all cores", r.SHA256All)
	_ = tw.Flush()
	fmt.Fprintf(w, "ratio Verifier/sha256: %.2f (one core), %.2f (all cores)\n", r.RatioOne, r.RatioAll)
}
