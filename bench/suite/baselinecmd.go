package suite

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tlslpd/bench/baseline"
	"tlslpd/cli"
	"tlslpd/config"
	"tlslpd/protocol"
)

// BaselineMain is `tlslpd bench baseline [flags]`: the baseline server as
// its own process, with tlslpd's flag names, so the suite can measure it
// from /proc exactly as it measures tlslpd. It serves until SIGINT/SIGTERM.
func BaselineMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tlslpd bench baseline", flag.ContinueOnError)
	host := fs.String("host", "127.0.0.1", "loopback address to bind")
	port := fs.Int("port", protocol.DefaultPort, "TCP port")
	cert := fs.String("server-cert", protocol.DefaultServerCert, "server certificate (PEM)")
	key := fs.String("server-key", protocol.DefaultServerKey, "server private key (PEM)")
	ca := fs.String("ca-cert", protocol.DefaultCACert, "CA for client certificates (PEM)")
	insecure := fs.Bool("insecure", false, "do not request client certificates")
	plain := fs.Bool("plain", false, "serve over plain TCP, no TLS (the side of tlslpd's tcp:// transport; the certificate flags are then unused)")
	clientAuth := fs.String("client-auth", "verify", "verify (client certificates chain to --ca-cert) or any (crypto/tls's RequireAnyClientCert: any certificate whose key the client proves)")
	token := fs.String("token", protocol.DefaultToken, "WORK token")
	nbits := fs.Int("n_bits", protocol.DefaultNBits, "PoW difficulty")
	inject := fs.String("inject", "reference", "body FAIL injection: reference (1 in 9 per draw, as tlslpd) or never")
	work := fs.Int("work-timeout", int(protocol.DefaultWorkTimeout/time.Second), "seconds allowed for WORK")
	other := fs.Int("other-timeout", int(protocol.DefaultOtherTimeout/time.Second), "seconds allowed for every other step")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus /metrics (Go and process collectors) on this loopback address")
	if err := cli.Parse(fs, args); err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	cfg := baseline.Config{
		Token:        *token,
		NBits:        *nbits,
		ZeroBits:     *nbits == 0,
		Plain:        *plain,
		WorkTimeout:  time.Duration(*work) * time.Second,
		OtherTimeout: time.Duration(*other) * time.Second,
	}
	switch *inject {
	case "reference":
		cfg.Inject = baseline.InjectReference
	case "never":
		cfg.Inject = baseline.InjectNever
	default:
		fmt.Fprintf(stderr, "tlslpd bench baseline: --inject %q: want reference or never\n", *inject)
		return 2
	}
	if *clientAuth != "verify" && *clientAuth != "any" {
		fmt.Fprintf(stderr, "tlslpd bench baseline: --client-auth %q: want verify or any\n", *clientAuth)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serveBaseline(ctx, cfg, *host, *port, *cert, *key, *ca, *insecure, *clientAuth == "any", *metricsAddr); err != nil {
		fmt.Fprintf(stderr, "tlslpd bench baseline: %v\n", err)
		return 1
	}
	return 0
}

func serveBaseline(ctx context.Context, cfg baseline.Config, host string, port int, certFile, keyFile, caFile string, insecure, anyCert bool, metricsAddr string) error {
	if !config.IsLoopbackHost(host) {
		return fmt.Errorf("--host %q: the benchmark baseline binds loopback only", host)
	}
	if cfg.Plain {
		return serveBaselineOn(ctx, cfg, host, port, metricsAddr)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("load server key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !insecure && !anyCert {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("read CA: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("no certificate in %s", caFile)
		}
	}
	cfg.TLS = baseline.NewTLSConfig(cert, pool, insecure)
	if anyCert && !insecure {
		cfg.TLS.ClientAuth, cfg.TLS.ClientCAs = tls.RequireAnyClientCert, nil
	}
	return serveBaselineOn(ctx, cfg, host, port, metricsAddr)
}

// serveBaselineOn serves a ready Config on host:port, with /metrics.
func serveBaselineOn(ctx context.Context, cfg baseline.Config, host string, port int, metricsAddr string) error {
	if metricsAddr != "" {
		stopMetrics, err := serveMetrics(metricsAddr)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if err := baseline.Serve(ctx, ln, cfg); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// serveMetrics exposes the standard Go and process collectors, the same
// go_goroutines tlslpd's /metrics carries.
func serveMetrics(addr string) (stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %q: %w", addr, err)
	}
	if !config.IsLoopbackHost(host) {
		return nil, fmt.Errorf("--metrics-addr %q must be a loopback address", addr)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
