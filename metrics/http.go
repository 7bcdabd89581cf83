package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HTTP serves /metrics, /healthz and /readyz, and /debug/pprof/ where
// allowed.
type HTTP struct {
	srv      *http.Server
	ln       net.Listener
	ready    atomic.Bool
	loopback bool
	pprof    bool
}

// HTTPOptions tune what Listen serves.
type HTTPOptions struct {
	// Pprof serves /debug/pprof/ even on a non-loopback address. Profiles
	// reveal memory contents and cost CPU to take, so by default only a
	// loopback bind serves them.
	Pprof bool
	// Handlers are further routes (the live monitor's page and stream).
	Handlers map[string]http.Handler
}

// Listen binds addr (any address: a Prometheus on another host, or one
// scraping a pod's IP, must reach it) and prepares the handlers; call
// Serve to start.
func Listen(addr string, m *Metrics, opts HTTPOptions) (*HTTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	return newHTTP(ln, isLoopback(ln.Addr()), m, opts), nil
}

// newHTTP serves on ln; loopback says whether ln is reachable from this
// host only.
func newHTTP(ln net.Listener, loopback bool, m *Metrics, opts HTTPOptions) *HTTP {
	h := &HTTP{ln: limitConns(ln, MaxHTTPConns), loopback: loopback, pprof: loopback || opts.Pprof}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	if h.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	for pattern, handler := range opts.Handlers {
		mux.Handle(pattern, handler)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return h
}

// Addr is the bound address.
func (h *HTTP) Addr() net.Addr { return h.ln.Addr() }

// Loopback reports whether the bound address is reachable from this host
// only.
func (h *HTTP) Loopback() bool { return h.loopback }

// Pprof reports whether /debug/pprof/ is served.
func (h *HTTP) Pprof() bool { return h.pprof }

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// SetReady flips /readyz (ready while accepting sessions).
func (h *HTTP) SetReady(ready bool) { h.ready.Store(ready) }

// Serve blocks until Shutdown.
func (h *HTTP) Serve() error {
	if err := h.srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// Shutdown stops serving.
func (h *HTTP) Shutdown(ctx context.Context) error { return h.srv.Shutdown(ctx) }
