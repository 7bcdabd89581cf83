package cli

import (
	"flag"
	"fmt"
	"sort"
	"strings"
)

// expandPrefixes rewrites abbreviated long flags into their full names and
// integer values into plain decimal (see DecimalString), as Python's
// argparse reads them: "--tut" is "--tutorial" when no other
// flag starts with "tut". An exact name always wins; an abbreviation that
// fits several flags is an error naming them. Values are skipped (so
// "--token --tut" keeps "--tut" as the token), and so is everything after
// "--" or the first non-flag argument, where the flag package stops too.
func expandPrefixes(fs *flag.FlagSet, args []string) ([]string, error) {
	out := append([]string(nil), args...)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			break
		}
		body := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		dashes := a[:len(a)-len(body)]
		if body == "" || body[0] == '-' || body[0] == '=' {
			break // the flag package reports the bad syntax
		}
		name, value, hasValue := strings.Cut(body, "=")
		f := fs.Lookup(name)
		if f == nil && name != "help" && a != "-h" {
			full, err := resolvePrefix(fs, dashes, name)
			if err != nil {
				return nil, err
			}
			if full == "" {
				continue // unknown: the flag package names it
			}
			f = fs.Lookup(full)
			if full == "help" {
				out[i] = dashes + full
				continue
			}
			out[i] = dashes + full
			if hasValue {
				out[i] += "=" + value
			}
		}
		switch {
		case f == nil || isBool(f):
		case hasValue:
			v, err := decimalValue(f, value)
			if err != nil {
				return nil, err
			}
			out[i] = dashes + f.Name + "=" + v
		case i+1 < len(out):
			i++ // its value, whatever it looks like
			v, err := decimalValue(f, out[i])
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
	}
	return out, nil
}

// resolvePrefix returns the one flag name that starts with prefix, "" when
// none does, and an error when several do.
func resolvePrefix(fs *flag.FlagSet, dashes, prefix string) (string, error) {
	var matches []string
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, prefix) {
			matches = append(matches, f.Name)
		}
	})
	if fs.Lookup("help") == nil && strings.HasPrefix("help", prefix) {
		matches = append(matches, "help")
	}
	switch len(matches) {
	case 0:
		return "", nil
	case 1:
		return matches[0], nil
	}
	sort.Strings(matches)
	for i, m := range matches {
		matches[i] = "--" + m
	}
	return "", fmt.Errorf("ambiguous option: %s%s could match %s", dashes, prefix, strings.Join(matches, ", "))
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
