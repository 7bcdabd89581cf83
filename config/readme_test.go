package config

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README is where operators look a flag up: every server flag is
// named there, and each row of its table of tlslpd's own flags names
// flags that exist, with the defaults --help shows.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(data)
	cfg := Defaults()
	fs := FlagSet("tlslpd", &cfg)
	fs.VisitAll(func(f *flag.Flag) {
		assert.Contains(t, readme, "`--"+f.Name, "--%s is not in the README", f.Name)
	})

	rows := flagTableRows(t, readme)
	require.NotEmpty(t, rows, "the README's table of tlslpd's own flags")
	for _, row := range rows {
		for _, name := range row.flags {
			assert.NotNil(t, fs.Lookup(name), "the README's flag table names --%s, which does not exist", name)
		}
		if len(row.flags) != 1 || fs.Lookup(row.flags[0]) == nil {
			continue
		}
		f := fs.Lookup(row.flags[0])
		if want, ok := documentedDefault(row.def); ok {
			assert.True(t, sameDefault(want, f.DefValue), "--%s: the README says the default is %q, --help says %q", f.Name, row.def, f.DefValue)
		}
	}
}

type flagRow struct {
	flags []string // the flags the row's first cell names
	def   string   // its default cell, as written
}

// flagTableRows reads the table that follows "tlslpd's own flags:".
func flagTableRows(t *testing.T, readme string) []flagRow {
	t.Helper()
	_, table, ok := strings.Cut(readme, "tlslpd's own flags:")
	require.True(t, ok, "the README's table of tlslpd's own flags")
	var rows []flagRow
	started := false
	for line := range strings.Lines(table) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if started {
				break
			}
			continue
		}
		started = true
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.Contains(cells[1], "`--") {
			continue // the header and its rule
		}
		var row flagRow
		for _, part := range strings.Split(cells[1], "`--")[1:] {
			name, _, _ := strings.Cut(part, "`")
			name, _, _ = strings.Cut(name, " ")
			row.flags = append(row.flags, name)
		}
		row.def = strings.TrimSpace(cells[2])
		rows = append(rows, row)
	}
	return rows
}

// documentedDefault is the literal a default cell starts with ("0 (off)"
// is 0, "off" and "—" are a zero value); ok is false for prose
// ("GOMAXPROCS", "console on a terminal, ...").
func documentedDefault(cell string) (string, bool) {
	word, _, _ := strings.Cut(strings.Trim(cell, "`"), " ")
	switch word {
	case "off", "—":
		return "", true
	}
	if _, err := strconv.ParseFloat(word, 64); err == nil {
		return word, true
	}
	if _, err := time.ParseDuration(word); err == nil {
		return word, true
	}
	return "", false
}

// sameDefault compares a documented default with a flag's DefValue:
// zero values alike, numbers by value, durations by length.
func sameDefault(doc, def string) bool {
	zero := func(s string) bool { return s == "" || s == "0" || s == "false" || s == "0s" || s == "[]" }
	if doc == "" || zero(doc) {
		return zero(def)
	}
	if a, err := strconv.ParseFloat(doc, 64); err == nil {
		b, err := strconv.ParseFloat(def, 64)
		return err == nil && a == b
	}
	a, err := time.ParseDuration(doc)
	b, err2 := time.ParseDuration(def)
	return err == nil && err2 == nil && a == b
}
