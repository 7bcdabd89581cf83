package suite

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"tlslpd/bench/loadgen"
	"tlslpd/identity"
	"tlslpd/protocol"
)

// handshakeLoad is the handshake-only client: connect, full mTLS handshake,
// read the server's first line (HELLO), close. Reading the line proves the
// server finished its side of the handshake, so every counted connection
// cost the server one whole handshake and nothing else of the protocol.
type handshakeLoad struct {
	host      string
	port      int
	tls       *tls.Config
	workers   int
	duration  time.Duration
	sourceIPs int
	timeout   time.Duration
}

// handshakeCounts is what a handshake-only run saw.
type handshakeCounts struct {
	OK        uint64
	Errors    uint64
	Seconds   float64
	ErrSample string
}

func (h handshakeLoad) run(ctx context.Context) handshakeCounts {
	addr := net.JoinHostPort(h.host, strconv.Itoa(h.port))
	srcs := loadgen.SourceAddrs(h.host, h.sourceIPs)
	var (
		ok, bad  atomic.Uint64
		sampleMu sync.Mutex
		sample   string
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(h.duration)
	for w := range h.workers {
		d := net.Dialer{Timeout: h.timeout}
		if len(srcs) > 0 {
			d.LocalAddr = srcs[w%len(srcs)]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if err := h.once(ctx, &d, addr); err != nil {
					if ctx.Err() != nil {
						return
					}
					bad.Add(1)
					sampleMu.Lock()
					if sample == "" {
						sample = err.Error()
					}
					sampleMu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return handshakeCounts{OK: ok.Load(), Errors: bad.Load(), Seconds: time.Since(start).Seconds(), ErrSample: sample}
}

var errNotHello = errors.New("first line is not HELLO")

func (h handshakeLoad) once(ctx context.Context, d *net.Dialer, addr string) error {
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	c := tls.Client(raw, h.tls)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(h.timeout))
	if err := c.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	line, err := bufio.NewReaderSize(c, 256).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read first line: %w", err)
	}
	if line != protocol.Hello+"\n" {
		return fmt.Errorf("%w: %q", errNotHello, line)
	}
	return nil
}

// handshakes: the same handshake-only load against each server. The
// client offers X25519 only: nginx's OpenSSL may lack the post-quantum
// hybrid Go prefers, and all three must do identical key exchanges.
func (r *runner) handshakes(ctx context.Context) error {
	kinds := []serverKind{kindTlslpd, kindBaseline, kindTlslpdAny, kindBaselineAny}
	if r.opt.Nginx.Bin != "" {
		kinds = append(kinds, kindNginx)
	} else {
		r.report.Skipped = append(r.report.Skipped, "handshake: nginx row skipped: nginx (with the stream module) is not installed; `make bench-deps` installs it")
	}
	rows := map[serverKind]*HandshakeRow{}
	nginxFailed := false
	for round := range r.opt.Rounds {
		for _, k := range roundOrder(round, kinds...) {
			if k == kindNginx && nginxFailed {
				continue
			}
			row, err := r.handshakeOne(ctx, k)
			if err != nil {
				if k == kindNginx && ctx.Err() == nil {
					r.report.Skipped = append(r.report.Skipped, fmt.Sprintf("handshake: nginx row failed: %v", err))
					r.logf("nginx failed: %v", err)
					nginxFailed = true
					delete(rows, k)
					continue
				}
				return fmt.Errorf("%s round %d: %w", k, round+1, err)
			}
			r.logf("round %d %s: %d handshakes (%d errors) in %.1fs = %.0f/s, server CPU %.2fs = %.3f ms/handshake",
				round+1, row.Server, row.OK, row.Errors, row.Seconds, row.PerSecond(), row.CPUSeconds, row.CPUPerHandshake())
			if acc := rows[k]; acc != nil {
				acc.add(row)
			} else {
				row.RoundRates = []float64{row.PerSecond()}
				rows[k] = &row
			}
		}
	}
	for _, k := range kinds {
		if row := rows[k]; row != nil {
			r.report.Handshakes = append(r.report.Handshakes, *row)
		}
	}
	return nil
}

func (r *runner) handshakeOne(ctx context.Context, k serverKind) (HandshakeRow, error) {
	s, err := r.start(ctx, k, 60)
	if err != nil {
		return HandshakeRow{}, err
	}
	defer s.stop()
	tc := r.client.Clone()
	tc.CurvePreferences = []tls.CurveID{tls.X25519}
	if k == kindTlslpdAny || k == kindBaselineAny {
		if err := presentTransient(tc, transientIdentities); err != nil {
			return HandshakeRow{}, err
		}
	}
	load := handshakeLoad{host: "127.0.0.1", port: s.port, tls: tc, workers: r.opt.HandshakeWorkers,
		duration: r.opt.Warmup, sourceIPs: r.opt.SourceIPs, timeout: 10 * time.Second}
	if w := load.run(ctx); w.OK == 0 {
		return HandshakeRow{}, fmt.Errorf("warm-up: no handshake succeeded (%d errors, e.g. %s); log: %s", w.Errors, w.ErrSample, s.c.logTail())
	}
	before, err := r.sample(s)
	if err != nil {
		return HandshakeRow{}, err
	}
	load.duration = r.opt.HandshakeDuration
	got := load.run(ctx)
	after, err := r.sample(s)
	if err != nil {
		return HandshakeRow{}, err
	}
	if ctx.Err() != nil {
		return HandshakeRow{}, ctx.Err()
	}
	if got.Errors > 0 {
		r.note("%s handshake test: %d errors (e.g. %s)", s.name, got.Errors, got.ErrSample)
	}
	return HandshakeRow{Server: s.name, OK: got.OK, Errors: got.Errors, Seconds: got.Seconds,
		CPUSeconds: after.CPUSeconds - before.CPUSeconds, ErrSample: got.ErrSample}, nil
}

// transientIdentities is how many transient client certificates the
// handshake load spreads over in the --client-auth any rows.
const transientIdentities = 64

// presentTransient makes tc present n transient self-signed client
// certificates in turn, one per connection, instead of the PKI's.
func presentTransient(tc *tls.Config, n int) error {
	certs := make([]tls.Certificate, n)
	for i := range certs {
		c, err := identity.Transient(fmt.Sprintf("bench %d", i), 0)
		if err != nil {
			return fmt.Errorf("transient client certificate: %w", err)
		}
		certs[i] = c
	}
	var next atomic.Uint64
	tc.Certificates = nil
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &certs[next.Add(1)%uint64(n)], nil
	}
	return nil
}
