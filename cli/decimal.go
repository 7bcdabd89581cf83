package cli

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrNotDecimal is wrapped by ParseInt for anything Python's int() would
// refuse: hex, octal or binary prefixes, stray characters, misplaced
// underscores.
var ErrNotDecimal = errors.New("want a decimal integer")

// DecimalString normalises s the way Python's int(s) reads it — surrounding
// whitespace, an optional sign, decimal digits with single underscores
// between them, leading zeros allowed ("010" is 10) — into plain Go decimal
// ("-10"). The reference reads every integer flag with int(), so "0x900"
// is an error and "01234" is 1234, never Go's octal 668.
func DecimalString(s string) (string, error) {
	t := strings.TrimFunc(s, unicode.IsSpace)
	sign := ""
	if t != "" && (t[0] == '+' || t[0] == '-') {
		if t[0] == '-' {
			sign = "-"
		}
		t = t[1:]
	}
	if t == "" || t[0] == '_' || t[len(t)-1] == '_' {
		return "", ErrNotDecimal
	}
	digits := make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == '_' && t[i-1] != '_':
		default:
			return "", ErrNotDecimal
		}
	}
	n := strings.TrimLeft(string(digits), "0")
	if n == "" {
		return "0", nil
	}
	return sign + n, nil
}

// ParseInt reads s as Python's int() does (see DecimalString).
func ParseInt(s string) (int, error) {
	d, err := DecimalString(s)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(d)
	if err != nil {
		return 0, errors.New("out of range")
	}
	return n, nil
}

// isInt reports whether f is one of the flag package's integer flags
// (int, int64, uint, uint64); their values are read as decimal.
func isInt(f *flag.Flag) bool {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	switch g.Get().(type) {
	case int, int64, uint, uint64:
		return true
	}
	return false
}

// decimalValue returns the value to hand to f: for an integer flag the
// decimal form of v (or an error in the flag package's words), else v.
func decimalValue(f *flag.Flag, v string) (string, error) {
	if !isInt(f) {
		return v, nil
	}
	d, err := DecimalString(v)
	if err != nil {
		return "", fmt.Errorf("invalid value %q for flag --%s: %w", v, f.Name, err)
	}
	return d, nil
}

// Set sets the flag name of fs to value as the command line would: an
// integer flag's value is read as decimal. Config files use it.
func Set(fs *flag.FlagSet, name, value string) error {
	if f := fs.Lookup(name); f != nil {
		v, err := decimalValue(f, value)
		if err != nil {
			return ErrNotDecimal
		}
		value = v
	}
	return fs.Set(name, value)
}
