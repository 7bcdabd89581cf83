// Package config turns the server's command line into a validated Server
// value: every flag of the reference tlslp-server with its name, default
// and meaning, plus tlslpd's own.
//
// It owns flag names, defaults and validation, and reports every problem as
// one line naming the flag. It must not open files other than what it is
// asked to parse, start anything, or log.
package config
