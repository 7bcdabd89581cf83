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
