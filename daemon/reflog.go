package daemon

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"github.com/rs/zerolog"

	"tlslpd/config"
	"tlslpd/eventloop"
	"tlslpd/logsink"
	"tlslpd/reflog"
)

// refLog is the reference log mode (--reference-log): the reference's
// lines in its log file, through their own batching sink, and WARNING and
// above on stderr through the daemon's.
type refLog struct {
	file     *reopenable
	sink     *logsink.Sink
	log      *reflog.Logger
	observed *reflog.ServerSteps
}

func openRefLog(cfg config.Server, stderr io.Writer, getenv func(string) string) (*refLog, error) {
	level, err := reflog.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	path, err := reflog.Path("server.log", getenv)
	if err != nil {
		return nil, fmt.Errorf("--reference-log: %w", err)
	}
	f, err := reflog.OpenFile(path, cfg.Session.Tutorial)
	if err != nil {
		return nil, err
	}
	file := &reopenable{path: path, f: f}
	r := &refLog{file: file, sink: logsink.New(file, logsink.Options{})}
	r.log = reflog.New(reflog.Options{Name: reflog.ServerName, Level: level, File: r.sink, Stderr: stderr, Tutorial: cfg.Session.Tutorial})
	r.observed = reflog.NewServerSteps(r.log)
	return r, nil
}

// zerolog is tlslpd's own logger in this mode: WARNING and above, in the
// reference's format, to the file and stderr.
func (r *refLog) zerolog(cfg config.Server) (zerolog.Logger, error) {
	level, err := config.ParseLevel(cfg.LogLevel)
	if err != nil {
		return zerolog.Nop(), err
	}
	return zerolog.New(r.log.ZerologWriter()).Level(max(level, zerolog.WarnLevel)).With().Timestamp().Logger(), nil
}

func (r *refLog) steps() *reflog.ServerSteps {
	if r == nil {
		return nil
	}
	return r.observed
}

// observer is the event loop's hook; a nil interface when the mode is off.
func (r *refLog) observer() eventloop.StepObserver {
	if r == nil {
		return nil
	}
	return r.observed
}

// listening logs each bound address as the reference does, with the host
// as configured and the port as bound.
func (r *refLog) listening(cfg config.Server, bound []net.Addr) {
	if r == nil {
		return
	}
	port := func(i int) int {
		if i < len(bound) {
			if a, ok := bound[i].(*net.TCPAddr); ok {
				return a.Port
			}
		}
		return 0
	}
	if len(cfg.Listen) == 0 {
		r.observed.Listening(cfg.Host, port(0))
		return
	}
	for i, l := range cfg.Listeners() {
		r.observed.Listening(l.Host, port(i))
	}
}

// reopen starts a new file at the same path (SIGHUP, after logrotate
// moved the old one away); lines already queued go to the new one.
func (r *refLog) reopen() error {
	if r == nil {
		return nil
	}
	return r.file.reopen()
}

// reopenable is the log file under the sink; only the sink's flusher
// writes to it, and SIGHUP swaps it.
type reopenable struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func (w *reopenable) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Write(p)
}

func (w *reopenable) reopen() error {
	f, err := reflog.OpenFile(w.path, false)
	if err != nil {
		return err
	}
	w.mu.Lock()
	old := w.f
	w.f = f
	w.mu.Unlock()
	return old.Close()
}

func (w *reopenable) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// close flushes the file (bounded by the sink's close timeout) and closes it.
func (r *refLog) close() {
	if r == nil {
		return
	}
	_ = r.sink.Close()
	_ = r.file.Close()
}
