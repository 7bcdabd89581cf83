// Package cli holds the command-line conventions every tlslpd subcommand
// shares, which are the reference's argparse's where it has one: integer
// flags are decimal as Python's int() reads them, an unambiguous prefix of
// a flag stands for it, flags are spelled --name in messages, no stray
// arguments, usage on --help (exit 0), and any other problem as one line
// on stderr (exit 2).
//
// It owns only those conventions; what the flags mean belongs to each
// command. It must not read files, start anything, or log.
package cli
