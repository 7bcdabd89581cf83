package leanclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tlslpd/pow"
	"tlslpd/protocol"
)

// Config says where and how hard to play.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// TLS is the client's TLS configuration; nil plays over plain TCP.
	TLS *tls.Config
	// Workers is how many sessions run at once (closed model).
	Workers int
	// Sessions stops after this many sessions in all; Duration stops
	// starting sessions after this long. Zero means no limit; at least one
	// of them must be set.
	Sessions int
	Duration time.Duration
	// Timeout bounds one whole session (default 30 s).
	Timeout time.Duration
	// LocalAddrs are source addresses the workers take in turn (none: the
	// kernel's choice), to spread connections over more port space.
	LocalAddrs []*net.TCPAddr
	// RandomString is the server's body random string, which tells an
	// injected `FAIL <random_string>` from a failure (default
	// protocol.DefaultRandomString).
	RandomString string
}

// Result counts the sessions a run played.
type Result struct {
	// Completed ended in DONE/OK; Injected in the server's random
	// `FAIL <random_string>`; Errors in anything else.
	Completed, Injected, Errors uint64
	// Seconds is the run's wall time.
	Seconds float64
	// ErrSample is the first error seen.
	ErrSample string
}

// Sessions counts the sessions the protocol ended normally.
func (r Result) Sessions() uint64 { return r.Completed + r.Injected }

// ErrConfig is returned for a Config that cannot run.
var ErrConfig = errors.New("leanclient: invalid configuration")

// errInjected ends a session on the server's random FAIL: a normal end.
var errInjected = errors.New("injected FAIL")

// Run plays sessions until the count or the duration is reached or ctx
// ends, and returns what they came to.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Addr == "" || cfg.Workers < 1 || (cfg.Sessions <= 0 && cfg.Duration <= 0) {
		return Result{}, fmt.Errorf("%w: want an address, workers >= 1 and a session count or a duration", ErrConfig)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.RandomString == "" {
		cfg.RandomString = protocol.DefaultRandomString
	}
	var (
		left                       atomic.Int64
		completed, injected, fails atomic.Uint64
		sampleOnce                 sync.Once
		sample                     string
		wg                         sync.WaitGroup
	)
	left.Store(int64(cfg.Sessions))
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	for w := range cfg.Workers {
		p := player{cfg: &cfg, dialer: net.Dialer{Timeout: cfg.Timeout}}
		if len(cfg.LocalAddrs) > 0 {
			p.dialer.LocalAddr = cfg.LocalAddrs[w%len(cfg.LocalAddrs)]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if cfg.Sessions > 0 && left.Add(-1) < 0 {
					return
				}
				if cfg.Duration > 0 && !time.Now().Before(deadline) {
					return
				}
				switch err := p.play(ctx); {
				case err == nil:
					completed.Add(1)
				case errors.Is(err, errInjected):
					injected.Add(1)
				case ctx.Err() != nil:
					return // cut short, not a server failure
				default:
					fails.Add(1)
					sampleOnce.Do(func() { sample = err.Error() })
				}
			}
		}()
	}
	wg.Wait()
	res := Result{Completed: completed.Load(), Injected: injected.Load(), Errors: fails.Load(),
		Seconds: time.Since(start).Seconds(), ErrSample: sample}
	return res, ctx.Err()
}

// player is one worker: its dialer, buffers and the answers it has
// already computed, which stay the same from session to session.
type player struct {
	cfg    *Config
	dialer net.Dialer
	out    []byte
	// The last WORK challenge and its suffix, and the last body random
	// string and its checksum.
	work, tok, suffix string
	random, cksum     string
	reader            *bufio.Reader
}

// play runs one session: nil when it ended in DONE/OK, errInjected on the
// server's random FAIL, any other error otherwise.
func (p *player) play(ctx context.Context) error {
	raw, err := p.dialer.DialContext(ctx, "tcp", p.cfg.Addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer raw.Close()
	if err := raw.SetDeadline(time.Now().Add(p.cfg.Timeout)); err != nil {
		return err
	}
	var c net.Conn = raw
	if p.cfg.TLS != nil {
		c = tls.Client(raw, p.cfg.TLS)
	}
	if p.reader == nil {
		p.reader = bufio.NewReaderSize(c, protocol.MaxLineLength+1)
	} else {
		p.reader.Reset(c)
	}
	for {
		line, err := p.reader.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		line = line[:len(line)-1]
		cmd, rest, _ := bytes.Cut(line, []byte{' '})
		p.out = p.out[:0]
		switch string(cmd) {
		case protocol.Hello:
			p.out = append(p.out, protocol.HelloBack...)
		case protocol.Work:
			if string(rest) != p.work {
				if err := p.solve(string(rest)); err != nil {
					return err
				}
			}
			p.out = append(p.out, p.suffix...)
		case protocol.Done:
			p.out = append(p.out, protocol.OK+"\n"...)
			if _, err := c.Write(p.out); err != nil {
				return fmt.Errorf("write: %w", err)
			}
			return nil
		case protocol.Fail:
			if string(rest) == p.cfg.RandomString {
				return errInjected
			}
			return fmt.Errorf("server: %s", line)
		default: // a body request: COMMAND random_string
			if string(rest) != p.random {
				p.random = string(rest)
				sum := sha256.Sum256([]byte(p.tok + p.random))
				p.cksum = hex.EncodeToString(sum[:])
			}
			p.out = append(p.out, p.cksum...)
			p.out = append(p.out, " load"...)
		}
		p.out = append(p.out, '\n')
		if _, err := c.Write(p.out); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
}

// solve answers a `<token> <n_bits>` challenge and remembers it.
func (p *player) solve(challenge string) error {
	tok, bits, ok := strings.Cut(challenge, " ")
	n, err := strconv.Atoi(bits)
	if !ok || err != nil {
		return fmt.Errorf("WORK %q: want a token and n_bits", challenge)
	}
	sol, err := pow.SolveFrom(tok, n, 0, 1<<40)
	if err != nil {
		return fmt.Errorf("WORK %q: %w", challenge, err)
	}
	p.work, p.tok, p.suffix = challenge, tok, sol.Suffix
	p.random = "" // the checksum depends on the token
	return nil
}
