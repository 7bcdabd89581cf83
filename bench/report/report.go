package report

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"tlslpd/bench/loadgen"
	"tlslpd/cli"
)

type thresholdFlag struct{ list *[]loadgen.Threshold }

func (t thresholdFlag) String() string { return "" }

func (t thresholdFlag) Set(s string) error {
	th, err := loadgen.ParseThreshold(s)
	if err != nil {
		return err
	}
	*t.list = append(*t.list, th)
	return nil
}

type options struct {
	jsonOut    bool
	html       string
	thresholds []loadgen.Threshold
	files      []string
}

func parse(args []string) (*options, *flag.FlagSet, error) {
	o := &options{}
	fs := flag.NewFlagSet("tlslpd bench report", flag.ContinueOnError)
	fs.BoolVar(&o.jsonOut, "json", false, "print the merged summary as JSON")
	fs.StringVar(&o.html, "html", "", "write a self-contained HTML report to FILE")
	fs.Var(thresholdFlag{&o.thresholds}, "threshold", "pass/fail criterion, repeatable (as for bench load); a violated one exits 3")
	// Flags may come before, between or after the files.
	fs.SetOutput(io.Discard)
	for {
		if err := fs.Parse(args); err != nil {
			// cli.Parse words the same error as every other subcommand.
			return nil, fs, cli.Parse(fs, args)
		}
		if fs.NArg() == 0 {
			break
		}
		o.files = append(o.files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(o.files) == 0 {
		return nil, fs, errors.New("no results files: give the --out files of tlslpd bench load")
	}
	return o, fs, nil
}

// Main runs `tlslpd bench report`. Exit codes as for bench load: 0 fine,
// 1 a file could not be read or nothing succeeded, 2 bad flags, 3 a
// threshold was violated.
func Main(args []string, stdout, stderr io.Writer) int {
	o, fs, err := parse(args)
	if err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "tlslpd bench report: %s\n", err)
		return loadgen.ExitFailed
	}
	var htmlFile *os.File
	if o.html != "" {
		if htmlFile, err = os.Create(o.html); err != nil {
			return fail(fmt.Errorf("--html: %w", err))
		}
		defer htmlFile.Close()
	}
	readers := make([]*loadgen.ResultsReader, 0, len(o.files))
	for _, name := range o.files {
		f, err := os.Open(name)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		rr, err := loadgen.NewResultsReader(f, name)
		if err != nil {
			return fail(err)
		}
		readers = append(readers, rr)
	}
	sum, err := loadgen.Merge(readers)
	if err != nil {
		return fail(err)
	}
	code := loadgen.Conclude(&sum, o.thresholds)
	if err := loadgen.Emit(&sum, o.jsonOut, stdout); err != nil {
		return fail(err)
	}
	if htmlFile != nil {
		if err := loadgen.WriteReport(htmlFile, &sum); err != nil {
			return fail(err)
		}
		if err := htmlFile.Close(); err != nil {
			return fail(fmt.Errorf("--html %s: %w", o.html, err))
		}
		fmt.Fprintf(stderr, "tlslpd bench report: wrote report to %s\n", o.html)
	}
	if sum.Counts.Completed == 0 && (sum.Park == nil || sum.Park.Parked == 0) {
		fmt.Fprintf(stderr, "tlslpd bench report: no session succeeded (%d finished)\n", sum.Sessions)
		return loadgen.ExitFailed
	}
	return code
}
