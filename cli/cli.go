package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// flagName matches the flag package's "-name" in its messages, so they
// read "--name" like the flags users type (and like the reference's).
var flagName = regexp.MustCompile(`(^|[\s:])-([A-Za-z][\w-]*)`)

// Parse parses args into fs the way the reference's argparse reads its
// command line: every integer flag is decimal (Python's int(), so "010" is
// 10 and "0x10" an error), and an unambiguous prefix of a flag stands for
// it ("--tut" for "--tutorial"). It returns flag.ErrHelp for -h/--help, and
// otherwise errors that read as one line: the flag package's, an ambiguous
// prefix naming its candidates, or an unexpected positional argument.
func Parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	args, err := expandPrefixes(fs, args)
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errors.New(explainParseError(fs, flagName.ReplaceAllString(OneLine(err), "$1--$2")))
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseErrorOf matches the flag package's bare "parse error" for a value
// its type refused, after Parse has spelled the flag "--name".
var parseErrorOf = regexp.MustCompile(`for (?:flag )?--([\w-]+): parse error$`)

// explainParseError replaces the flag package's "parse error" with what the
// flag wants, so "--drain-timeout 30" says that a duration needs a unit.
func explainParseError(fs *flag.FlagSet, msg string) string {
	m := parseErrorOf.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	f := fs.Lookup(msg[m[2]:m[3]])
	if f == nil {
		return msg
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return msg
	}
	var want string
	switch g.Get().(type) {
	case time.Duration:
		want = "want a duration with a unit, e.g. 10s, 1m30s or 250ms"
	case bool:
		want = "want true or false"
	case float64:
		want = "want a number, e.g. 100 or 2.5"
	default:
		return msg
	}
	return msg[:m[1]-len("parse error")] + want
}

// Explain turns an error from setting flag name (fs.Set, Set) into what
// the flag wants, where the flag package only says "parse error".
func Explain(fs *flag.FlagSet, name string, err error) error {
	if err == nil || err.Error() != "parse error" {
		return err
	}
	msg := explainParseError(fs, "for --"+name+": parse error")
	if want, ok := strings.CutPrefix(msg, "for --"+name+": "); ok && want != "parse error" {
		return errors.New(want)
	}
	return err
}

// Exit reports a failed command line and returns the exit status: usage on
// stdout and 0 for flag.ErrHelp, else "<command>: <error>" on one line of
// stderr and 2.
func Exit(fs *flag.FlagSet, err error, stdout, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage: %s [flags]\n", fs.Name())
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	fmt.Fprintf(stderr, "%s: %s\n", fs.Name(), OneLine(err))
	return 2
}

// OneLine renders err on a single line (errors.Join and some libraries
// put newlines in messages).
func OneLine(err error) string {
	return strings.Join(strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}
