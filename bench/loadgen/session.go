package loadgen

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"tlslpd/client"
	"tlslpd/pow"
	"tlslpd/protocol"
)

// kind classifies how a session ended; each maps to one Counts field.
type kind uint8

const (
	kCompleted kind = iota
	kServerFail
	kInjectedFail
	kTLS
	kTimeout
	kConnect
	kProtocol
	kAborted
	kParked
)

type outcome struct {
	kind    kind
	line    string // the server's FAIL line, or an error sample
	resumed bool
}

// sessionRunner holds what every session of a run shares.
type sessionRunner struct {
	addr         string
	tls          *tls.Config
	dialers      []net.Dialer
	workTimeout  time.Duration
	otherTimeout time.Duration
	answer       string
	// workBits is the difficulty the server last sent in WORK (-1: none
	// seen): the report states what was measured, not what was expected.
	workBits atomic.Int64
}

func newSessionRunner(cfg *Config) *sessionRunner {
	r := &sessionRunner{
		addr:         net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		tls:          cfg.TLS.Clone(),
		workTimeout:  cfg.WorkTimeout,
		otherTimeout: cfg.OtherTimeout,
		answer:       "load test",
	}
	r.workBits.Store(-1)
	if r.tls.ServerName == "" {
		r.tls.ServerName = cfg.Host
	}
	memoizeChainCheck(r.tls)
	if cfg.Resumption && r.tls.ClientSessionCache == nil {
		r.tls.ClientSessionCache = tls.NewLRUClientSessionCache(1024)
	}
	srcs := SourceAddrs(cfg.Host, cfg.SourceIPs)
	if len(srcs) == 0 {
		r.dialers = []net.Dialer{{Timeout: cfg.OtherTimeout}}
	} else {
		r.dialers = make([]net.Dialer, len(srcs))
		for i, a := range srcs {
			r.dialers[i] = net.Dialer{Timeout: cfg.OtherTimeout, LocalAddr: a}
		}
	}
	return r
}

// run performs one session. With park it stops after receiving WORK and
// returns the live connection (outcome kParked) for the caller to hold.
// n picks the source address.
func (r *sessionRunner) run(ctx context.Context, n uint64, park bool) (outcome, *tls.Conn) {
	d := &r.dialers[n%uint64(len(r.dialers))]
	raw, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		if ctx.Err() != nil {
			return outcome{kind: kAborted}, nil
		}
		return outcome{kind: kConnect, line: err.Error()}, nil
	}
	conn := tls.Client(raw, r.tls)
	keep := false
	defer func() {
		if !keep {
			conn.Close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	_ = conn.SetDeadline(time.Now().Add(r.otherTimeout))
	if err := conn.Handshake(); err != nil {
		return r.fail(ctx, kTLS, err), nil
	}
	resumed := conn.ConnectionState().DidResume
	br := bufio.NewReaderSize(conn, 2048)
	out := make([]byte, 0, 128)
	var token string
	step := 0 // 0 HELLO, 1 WORK, 2 body
	for {
		_ = conn.SetReadDeadline(time.Now().Add(r.otherTimeout))
		line, err := readLine(br)
		if err != nil {
			var oe *net.OpError
			if errors.As(err, &oe) && oe.Op == "remote error" {
				return r.fail(ctx, kTLS, err), nil
			}
			return r.fail(ctx, kProtocol, err), nil
		}
		req, err := client.ParseRequest(line)
		if err != nil {
			return outcome{kind: kProtocol, line: err.Error()}, nil
		}
		out = out[:0]
		switch {
		case req.Kind == client.KindFail:
			k := kServerFail
			if step == 2 && !protocol.IsFixedFail(line) {
				k = kInjectedFail
			}
			return outcome{kind: k, line: line, resumed: resumed}, nil
		case req.Kind == client.KindHello && step == 0:
			out = append(out, protocol.HelloBack...)
			step = 1
		case req.Kind == client.KindWork && step == 1:
			r.workBits.Store(int64(req.NBits))
			if park {
				keep = true
				stop()
				_ = conn.SetDeadline(time.Time{})
				return outcome{kind: kParked, resumed: resumed}, conn
			}
			token = req.Token
			sctx, cancel := context.WithTimeout(ctx, r.workTimeout)
			sol, err := pow.Solve(sctx, req.Token, req.NBits, 1)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return outcome{kind: kAborted}, nil
				}
				if errors.Is(err, context.DeadlineExceeded) {
					return outcome{kind: kTimeout, line: "work timeout"}, nil
				}
				return outcome{kind: kProtocol, line: err.Error()}, nil
			}
			out = append(out, sol.Suffix...)
			step = 2
		case req.Kind == client.KindBody && step == 2:
			sum := sha256.Sum256([]byte(token + req.Arg))
			out = hex.AppendEncode(out, sum[:])
			out = append(out, ' ')
			out = append(out, r.answer...)
		case req.Kind == client.KindDone && step == 2:
			out = append(out, protocol.OK...)
			out = append(out, '\n')
			_ = conn.SetWriteDeadline(time.Now().Add(r.otherTimeout))
			if _, err := conn.Write(out); err != nil {
				return r.fail(ctx, kProtocol, err), nil
			}
			return outcome{kind: kCompleted, resumed: resumed}, nil
		default:
			return outcome{kind: kProtocol, line: "unexpected " + req.Kind.String()}, nil
		}
		out = append(out, '\n')
		_ = conn.SetWriteDeadline(time.Now().Add(r.otherTimeout))
		if _, err := conn.Write(out); err != nil {
			return r.fail(ctx, kProtocol, err), nil
		}
	}
}

// fail classifies an I/O error: cancellation and timeouts win over the
// caller's guess.
func (r *sessionRunner) fail(ctx context.Context, guess kind, err error) outcome {
	if ctx.Err() != nil {
		return outcome{kind: kAborted}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return outcome{kind: kTimeout, line: err.Error()}
	}
	return outcome{kind: guess, line: err.Error()}
}

var errLineTooLong = errors.New("server line longer than MaxLineLength")

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > protocol.MaxLineLength+1 {
		return "", errLineTooLong
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	return string(line[:len(line)-1]), nil
}
