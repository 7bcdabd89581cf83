package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"tlslpd/config"
	"tlslpd/eventloop"
	"tlslpd/metrics"
	"tlslpd/tlsbridge"
)

// Main runs the server command line: exit 0 on a clean stop (and after the
// tutorial session), 1 on a runtime failure, 2 on bad flags.
func Main(args []string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse("tlslpd", args, stdout)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd: %s\n", trimUsage(err))
		return 2
	}
	logger, err := NewLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd: %s\n", trimUsage(err))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg, logger, nil); err != nil {
		logger.Error().Err(err).Msg("tlslpd stopped")
		fmt.Fprintf(stderr, "tlslpd: %v\n", err)
		return 1
	}
	return 0
}

func trimUsage(err error) string {
	s := err.Error()
	if p := config.ErrUsage.Error() + ": "; len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// NewLogger builds the zerolog logger the flags ask for.
func NewLogger(cfg config.Server, w io.Writer) (zerolog.Logger, error) {
	level, err := config.ParseLevel(cfg.LogLevel)
	if err != nil {
		return zerolog.Nop(), err
	}
	if cfg.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

// Hooks lets tests observe a running daemon; all fields are optional.
type Hooks struct {
	// Started receives the server once its listeners are bound.
	Started func(*eventloop.Server, *metrics.HTTP)
	// OnRecord receives every finished session (on its event loop).
	OnRecord func(*eventloop.Record)
}

// Run serves until ctx ends or the tutorial session is over.
func Run(ctx context.Context, cfg config.Server, logger zerolog.Logger, hooks *Hooks) error {
	if hooks == nil {
		hooks = &Hooks{}
	}
	tlsCfg, err := tlsbridge.LoadConfig(cfg.ServerCert, cfg.ServerKey, cfg.CACert, cfg.Insecure)
	if err != nil {
		return fmt.Errorf("load TLS material: %w", err)
	}
	tlsCfg.MaxHandshakes = cfg.MaxHandshakes
	tlsCtx, err := tlsbridge.NewContext(tlsCfg)
	if err != nil {
		return fmt.Errorf("TLS setup: %w", err)
	}

	met := metrics.New()
	met.GaugeFunc("tlslpd_tls_handshakes_in_flight", "TLS handshakes running now.", func() float64 { return float64(tlsCtx.Stats().HandshakesInFlight) })
	met.GaugeFunc("tlslpd_tls_handshakes_queued", "TLS handshakes waiting for a slot now.", func() float64 { return float64(tlsCtx.Stats().HandshakesQueued) })
	met.CounterFunc("tlslpd_tls_handshakes_waited_total", "TLS handshakes that had to wait for a slot.", func() float64 { return float64(tlsCtx.Stats().HandshakesWaited) })
	met.CounterFunc("tlslpd_tls_resumed_total", "TLS handshakes that resumed a session.", func() float64 { return float64(tlsCtx.Stats().Resumed) })

	var admin *metrics.HTTP
	if cfg.MetricsAddr != "" {
		admin, err = metrics.Listen(cfg.MetricsAddr, met)
		if err != nil {
			return err
		}
		go func() {
			if err := admin.Serve(); err != nil {
				logger.Error().Err(err).Msg("metrics endpoint stopped")
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = admin.Shutdown(sctx)
		}()
	}

	srv, err := eventloop.New(eventloop.Config{
		Addrs:            []string{cfg.ListenAddr()},
		Loops:            cfg.Loops,
		TLS:              tlsCtx,
		Session:          cfg.Session,
		WorkTimeout:      cfg.WorkTimeout,
		OtherTimeout:     cfg.OtherTimeout,
		HandshakeTimeout: cfg.HandshakeTimeout,
		MaxConns:         cfg.MaxConns,
		Logger:           logger,
		Metrics:          met,
		OnRecord:         hooks.OnRecord,
	})
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-srv.Ready():
		case <-ctx.Done():
			return
		}
		mode := "mTLS"
		if cfg.Insecure {
			mode = "insecure (no client certificates)"
		}
		ev := logger.Info().Str("listen", cfg.ListenAddr()).Str("mode", mode).Int("n_bits", cfg.Session.NBits).Bool("tutorial", cfg.Session.Tutorial)
		if admin != nil {
			ev = ev.Str("metrics", "http://"+admin.Addr().String()+"/metrics")
			admin.SetReady(true)
		}
		ev.Msg("tlslpd serving")
		if hooks.Started != nil {
			hooks.Started(srv, admin)
		}
	}()
	if err := srv.Run(ctx); err != nil {
		return err
	}
	if admin != nil {
		admin.SetReady(false)
	}
	logger.Info().Msg("tlslpd stopped")
	return nil
}

// Exists reports whether path exists (used by `tlslpd certs --if-missing`).
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
