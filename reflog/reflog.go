package reflog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Level is a Python logging level; the numbers are Python's.
type Level int

// Python's levels.
const (
	Debug    Level = 10
	Info     Level = 20
	Warning  Level = 30
	Error    Level = 40
	Critical Level = 50
)

func (l Level) String() string {
	switch l {
	case Debug:
		return "DEBUG"
	case Info:
		return "INFO"
	case Warning:
		return "WARNING"
	case Error:
		return "ERROR"
	case Critical:
		return "CRITICAL"
	}
	return fmt.Sprintf("Level %d", int(l))
}

// ParseLevel reads --log-level's names (any case; WARN for WARNING).
func ParseLevel(s string) (Level, error) {
	switch strings.ToUpper(s) {
	case "DEBUG":
		return Debug, nil
	case "INFO":
		return Info, nil
	case "WARNING", "WARN":
		return Warning, nil
	case "ERROR":
		return Error, nil
	case "CRITICAL":
		return Critical, nil
	}
	return 0, fmt.Errorf("log level %q: want DEBUG, INFO, WARNING, ERROR or CRITICAL", s)
}

// Logger names, as the reference's lines carry them.
const (
	ServerName = "tlslp.server"
	ClientName = "tlslp.client"
)

// TutorialTime is the timestamp of every line in --tutorial, so that a
// tutorial's log is the same on every run.
const TutorialTime = "2000-01-01T00:00:00+0100"

// timeLayout is Python's "%Y-%m-%dT%H:%M:%S%z".
const timeLayout = "2006-01-02T15:04:05-0700"

// Options make a Logger.
type Options struct {
	Name  string // ServerName or ClientName
	Level Level  // lines below it are not written anywhere
	// File receives every line at Level and above; Stderr those at
	// Warning and above. Either may be nil. Both should be non-blocking
	// (a logsink.Sink): Log is called on event loops.
	File, Stderr io.Writer
	// Tutorial stamps every line with TutorialTime.
	Tutorial bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Logger writes reference-format lines. It is safe for concurrent use.
type Logger struct {
	o    Options
	pool sync.Pool
}

// New makes a Logger.
func New(o Options) *Logger {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Name == "" {
		o.Name = ServerName
	}
	l := &Logger{o: o}
	l.pool.New = func() any { b := make([]byte, 0, 256); return &b }
	return l
}

// Enabled reports whether a line at level would be written.
func (l *Logger) Enabled(level Level) bool { return l != nil && level >= l.o.Level }

// Log writes one line: msg must not hold a newline (quote values with
// Repr, which escapes them).
func (l *Logger) Log(level Level, msg string) {
	if !l.Enabled(level) {
		return
	}
	bp := l.pool.Get().(*[]byte)
	b := l.AppendHeader((*bp)[:0], level)
	b = append(b, msg...)
	b = append(b, '\n')
	l.write(level, b)
	*bp = b
	l.pool.Put(bp)
}

// LogRepr writes prefix followed by Repr(value), without building the
// message first: the per-step lines allocate nothing.
func (l *Logger) LogRepr(level Level, prefix, value string) {
	if !l.Enabled(level) {
		return
	}
	bp := l.pool.Get().(*[]byte)
	b := l.AppendHeader((*bp)[:0], level)
	b = append(b, prefix...)
	b = AppendRepr(b, value)
	b = append(b, '\n')
	l.write(level, b)
	*bp = b
	l.pool.Put(bp)
}

// Logf is Log with fmt formatting.
func (l *Logger) Logf(level Level, format string, args ...any) {
	if l.Enabled(level) {
		l.Log(level, fmt.Sprintf(format, args...))
	}
}

// AppendHeader appends "<time> <LEVEL> <name>: ".
func (l *Logger) AppendHeader(b []byte, level Level) []byte {
	if l.o.Tutorial {
		b = append(b, TutorialTime...)
	} else {
		b = l.o.Now().AppendFormat(b, timeLayout)
	}
	b = append(b, ' ')
	b = append(b, level.String()...)
	b = append(b, ' ')
	b = append(b, l.o.Name...)
	return append(b, ": "...)
}

func (l *Logger) write(level Level, line []byte) {
	// The writers copy (logsink does); line is reused after this returns.
	if l.o.File != nil {
		_, _ = l.o.File.Write(line)
	}
	if level >= Warning && l.o.Stderr != nil {
		_, _ = l.o.Stderr.Write(line)
	}
}

// ErrNoHome is returned by Path when neither XDG_STATE_HOME nor HOME is set.
var ErrNoHome = errors.New("neither XDG_STATE_HOME nor HOME is set")

// Path is where the reference keeps its log named file ("server.log",
// "client.log"): $XDG_STATE_HOME/tlslp/logs/, by default
// ~/.local/state/tlslp/logs/. getenv is os.Getenv in production.
func Path(file string, getenv func(string) string) (string, error) {
	if dir := getenv("XDG_STATE_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "tlslp", "logs", file), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", ErrNoHome
	}
	return filepath.Join(home, ".local", "state", "tlslp", "logs", file), nil
}

// OpenFile opens the log file at path, making its directories: emptied
// first in tutorial mode (each tutorial run leaves exactly its own log, as
// the reference's does), appended to otherwise.
func OpenFile(path string, tutorial bool) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("reference log: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if tutorial {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("reference log: %w", err)
	}
	return f, nil
}
