package cli

import (
	"errors"
	"flag"
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

// decimal wraps an integer flag.Value so it reads its value as decimal.
type decimal struct{ flag.Value }

// String is safe on the zero value, which flag.PrintDefaults makes to
// tell a default from the zero value ("0" for every integer type).
func (d *decimal) String() string {
	if d == nil || d.Value == nil {
		return "0"
	}
	return d.Value.String()
}

func (d *decimal) Set(s string) error {
	norm, err := DecimalString(s)
	if err != nil {
		return err
	}
	if err := d.Value.Set(norm); err != nil {
		return errors.New("out of range")
	}
	return nil
}

func (d *decimal) Get() any {
	if g, ok := d.Value.(flag.Getter); ok {
		return g.Get()
	}
	return nil
}

// decimalInts makes every integer flag of fs (the flag package's int,
// int64, uint and uint64) decimal-only. Custom integer Values use ParseInt.
func decimalInts(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if _, done := f.Value.(*decimal); done {
			return
		}
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return
		}
		switch g.Get().(type) {
		case int, int64, uint, uint64:
			f.Value = &decimal{f.Value}
		}
	})
}
