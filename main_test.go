package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every subcommand follows the same command-line conventions (package cli):
// a bad flag is one line on stderr naming it as --flag, exit 2; --help is
// usage on stdout, exit 0.
func TestCommandLineConventions(t *testing.T) {
	commands := [][]string{
		{}, {"serve"}, {"certs"}, {"certs", "client"}, {"client"},
		{"bench", "load"}, {"bench", "verify"}, {"bench", "suite"}, {"bench", "baseline"}, {"bench", "attack"},
	}
	for _, cmd := range commands {
		name := strings.Join(append([]string{"tlslpd"}, cmd...), " ")
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append(append([]string{}, cmd...), "--bogus"), &stdout, &stderr)
			assert.Equal(t, 2, code)
			assert.Equal(t, 1, strings.Count(stderr.String(), "\n"), stderr.String())
			assert.Contains(t, stderr.String(), "flag provided but not defined: --bogus")
			assert.Empty(t, stdout.String())

			stdout.Reset()
			stderr.Reset()
			code = run(append(append([]string{}, cmd...), "--help"), &stdout, &stderr)
			assert.Equal(t, 0, code)
			assert.True(t, strings.HasPrefix(stdout.String(), "usage: tlslpd"), stdout.String())
			assert.Contains(t, stdout.String(), "\n  -", "the flags are listed")
			assert.Empty(t, stderr.String())

			// A prefix of a flag stands for it, as with argparse: every
			// subcommand parses through cli.Parse (which also makes every
			// integer flag decimal).
			stdout.Reset()
			stderr.Reset()
			code = run(append(append([]string{}, cmd...), "--hel"), &stdout, &stderr)
			assert.Equal(t, 0, code, stderr.String())
			assert.True(t, strings.HasPrefix(stdout.String(), "usage: tlslpd"), stdout.String())

			stdout.Reset()
			stderr.Reset()
			code = run(append(append([]string{}, cmd...), "stray"), &stdout, &stderr)
			if len(cmd) == 0 {
				// A first word that is not a flag is a subcommand name.
				assert.Contains(t, stderr.String(), `unknown command "stray"`)
			} else {
				assert.Contains(t, stderr.String(), `unexpected argument "stray"`)
			}
			assert.Equal(t, 2, code)
		})
	}
}

// The README's list of commands names every command `tlslpd help` does.
func TestREADMEListsEveryCommand(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, commands, ok := strings.Cut(string(readme), "## Commands")
	require.True(t, ok, "the README has a Commands section")
	commands, _, _ = strings.Cut(commands, "\n```\n")
	for line := range strings.Lines(usage) {
		fields := strings.Fields(line)
		if !strings.HasPrefix(line, "  ") || len(fields) < 2 || strings.HasPrefix(fields[1], "[") || fields[1] == "version" {
			continue // the usage's title, serving, and version (the README has it with --version)
		}
		cmd := fields[0] + " " + fields[1]
		if fields[1] == "bench" || (fields[1] == "certs" && len(fields) > 2 && fields[2] == "client") {
			cmd += " " + fields[2]
		}
		assert.Contains(t, commands, cmd, "the README's Commands list lacks %q", cmd)
	}
}
