package bench

import (
	"fmt"
	"io"

	"tlslpd/adversary"
	"tlslpd/bench/loadgen"
	"tlslpd/bench/report"
	"tlslpd/bench/suite"
	"tlslpd/bench/verify"
)

// Main runs `tlslpd bench <load|report|verify|suite|baseline|attack> [flags]` and returns the exit code
// (2 for an unknown or missing subcommand).
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "tlslpd bench: missing subcommand (load, report, verify, suite, baseline or attack)")
		return 2
	}
	switch args[0] {
	case "load":
		return loadgen.Main(args[1:], stdout, stderr)
	case "report":
		return report.Main(args[1:], stdout, stderr)
	case "verify":
		return verify.Main(args[1:], stdout, stderr)
	case "suite":
		return suite.Main(args[1:], stdout, stderr)
	case "baseline":
		return suite.BaselineMain(args[1:], stdout, stderr)
	case "attack":
		return adversary.Main(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, "usage: tlslpd bench load [flags] | tlslpd bench report [flags] FILE... | tlslpd bench verify [flags] | tlslpd bench suite [flags] | tlslpd bench baseline [flags] | tlslpd bench attack [flags]")
		return 0
	}
	fmt.Fprintf(stderr, "tlslpd bench: unknown subcommand %q (want load, report, verify, suite, baseline or attack)\n", args[0])
	return 2
}
