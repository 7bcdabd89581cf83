package report

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

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
	jsonOut     bool
	html        string
	jsonFile    string
	wait        int
	waitTimeout time.Duration
	thresholds  []loadgen.Threshold
	files       []string
}

func parse(args []string) (*options, *flag.FlagSet, error) {
	o := &options{}
	fs := flag.NewFlagSet("tlslpd bench report", flag.ContinueOnError)
	fs.BoolVar(&o.jsonOut, "json", false, "print the merged summary as JSON")
	fs.StringVar(&o.html, "html", "", "write a self-contained HTML report to `FILE`")
	fs.StringVar(&o.jsonFile, "json-out", "", "also write the merged summary as JSON to `FILE`")
	fs.Var(thresholdFlag{&o.thresholds}, "threshold", "pass/fail criterion `EXPR`, repeatable (as for bench load); a violated one exits 3")
	fs.IntVar(&o.wait, "wait", 0, "wait until `N` finished results files are there (a Job merging its load generators' files)")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", 10*time.Minute, "give up --wait after D")
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
		return nil, fs, errors.New("no results files: give the --out files of tlslpd bench load, or directories holding them")
	}
	if o.wait < 0 || o.waitTimeout <= 0 {
		return nil, fs, errors.New("--wait must not be negative and --wait-timeout must be positive")
	}
	if loadgen.SameFile(o.html, o.jsonFile) {
		return nil, fs, fmt.Errorf("--html and --json-out both name %s: give each its own file", o.html)
	}
	for _, out := range []struct{ flag, path string }{{"--html", o.html}, {"--json-out", o.jsonFile}} {
		if out.path == "" {
			continue
		}
		for _, in := range o.files {
			// An output inside a directory argument would be read as
			// results if it ends in .hlog; one naming an input would
			// truncate it before it is read.
			inDir := filepath.Ext(out.path) == resultsExt && isDir(in) && loadgen.SameFile(filepath.Dir(out.path), in)
			if loadgen.SameFile(out.path, in) || inDir {
				return nil, fs, fmt.Errorf("%s %s would overwrite the results it reads (%s)", out.flag, out.path, in)
			}
		}
	}
	return o, fs, nil
}

// Main runs `tlslpd bench report`. Exit codes as for bench load: 0 fine,
// 1 a file could not be read or nothing succeeded, 2 bad flags, 3 a
// threshold was violated.
func Main(args []string, stdout, stderr io.Writer) int {
	o, fs, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "usage: tlslpd bench report [flags] FILE|DIR...  (the --out files of tlslpd bench load; a directory stands for its *.hlog)")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return loadgen.ExitOK
	}
	if err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "tlslpd bench report: %s\n", err)
		return loadgen.ExitFailed
	}
	var htmlFile, jsonFile *os.File
	if o.html != "" {
		if htmlFile, err = os.Create(o.html); err != nil {
			return fail(fmt.Errorf("--html: %w", err))
		}
		defer htmlFile.Close()
	}
	if o.jsonFile != "" {
		if jsonFile, err = os.Create(o.jsonFile); err != nil {
			return fail(fmt.Errorf("--json-out: %w", err))
		}
		defer jsonFile.Close()
	}
	names, err := resultsFiles(o.files)
	if o.wait > 0 {
		names, err = waitFor(o.files, o.wait, o.waitTimeout, stderr)
	}
	if err != nil {
		return fail(err)
	}
	readers := make([]*loadgen.ResultsReader, 0, len(names))
	for _, name := range names {
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
	if jsonFile != nil {
		err := loadgen.Emit(&sum, true, jsonFile)
		if cerr := jsonFile.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fail(fmt.Errorf("--json-out %s: %w", o.jsonFile, err))
		}
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
		fmt.Fprintf(stderr, "tlslpd bench report: no session succeeded (%d sessions)\n", sum.Sessions)
		return loadgen.ExitFailed
	}
	return code
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// resultsExt is what a directory's results files are called.
const resultsExt = ".hlog"

// resultsFiles expands directories into the results files they hold.
func resultsFiles(args []string) ([]string, error) {
	var names []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			names = append(names, a)
			continue
		}
		found, err := filepath.Glob(filepath.Join(a, "*"+resultsExt))
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s holds no *%s results files", a, resultsExt)
		}
		sort.Strings(found)
		names = append(names, found...)
	}
	return names, nil
}

// finished reports whether a results file has its end record: its load
// generator is done with it.
func finished(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	// The end record is the last line and well under 64 KiB.
	off := max(st.Size()-64<<10, 0)
	tail := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(tail, off); err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	return bytes.Contains(tail, []byte("\n#tlslpd-end "))
}

// waitFor waits until args name at least n finished results files.
func waitFor(args []string, n int, timeout time.Duration, stderr io.Writer) ([]string, error) {
	deadline := time.Now().Add(timeout)
	said := -1
	for {
		names, _ := resultsFiles(args)
		done := 0
		for _, name := range names {
			if finished(name) {
				done++
			}
		}
		if done >= n {
			return names, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("--wait: %d of %d results files finished after %s", done, n, timeout)
		}
		if done != said {
			fmt.Fprintf(stderr, "tlslpd bench report: waiting: %d of %d results files finished\n", done, n)
			said = done
		}
		time.Sleep(time.Second)
	}
}
