// Command tlslpd serves the TLS line protocol (tlslp) at high concurrency,
// as a drop-in replacement for the reference tlslp-server, and carries the
// tools around it: development certificates, a client and benchmarks.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"tlslpd/bench"
	"tlslpd/certs"
	"tlslpd/client"
	"tlslpd/daemon"
	"tlslpd/version"
)

const usage = `tlslpd — TLS line protocol daemon

Usage:
  tlslpd [flags]                serve (the reference tlslp-server flags; see --help)
  tlslpd version                print the version (also: tlslpd --version)
  tlslpd certs [flags]          write development certificates into certificates/ (existing files are kept)
  tlslpd certs client --name X  sign another client certificate with certificates/ca_key.pem
  tlslpd client [flags]         run one tlslp session against a server
  tlslpd bench load [flags]     load generator (closed/open model, park mode, thresholds, HTML report, --out)
  tlslpd bench report FILE...   merge the --out files of several load generators (text, --json, --html)
  tlslpd bench verify [flags]   PoW verification throughput
  tlslpd bench suite [flags]    the side-by-side suite behind 'make bench' (writes BENCHMARKS.md)
  tlslpd bench baseline [flags] the goroutine-per-connection yardstick server
  tlslpd bench attack [flags]   a hostile client against a tlslpd on loopback (stalled handshakes, floods, ...)
`

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return daemon.Main(args, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return daemon.Main(args[1:], stdout, stderr)
	case "certs":
		return certs.Main(args[1:], stdout, stderr)
	case "client":
		return client.Main(args[1:], stdout, stderr)
	case "bench":
		return bench.Main(args[1:], stdout, stderr)
	case "version":
		if len(args) == 2 && (args[1] == "-h" || args[1] == "-help" || args[1] == "--help") {
			fmt.Fprintln(stdout, "usage: tlslpd version  (prints the version, commit and Go version; also: tlslpd --version)")
			return 0
		}
		if len(args) > 1 {
			fmt.Fprintf(stderr, "tlslpd version: unexpected argument %q\n", args[1])
			return 2
		}
		fmt.Fprintln(stdout, version.Get())
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tlslpd: unknown command %q (try 'tlslpd help')\n", args[0])
	return 2
}
