package loadgen

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
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
	kUnfinished
	kParked
)

// kindNames name outcomes in error counts, JSON and the report.
var kindNames = [...]string{
	kCompleted: "completed", kServerFail: "server FAIL", kInjectedFail: "injected FAIL", kTLS: "TLS error",
	kTimeout: "timeout", kConnect: "connect error", kProtocol: "protocol error", kUnfinished: "unfinished", kParked: "parked",
}

type outcome struct {
	kind    kind
	line    string // the server's FAIL line, or an error message
	resumed bool
	// at is the phase the session was in when it ended; phases[:at] are
	// the durations of the phases it completed.
	at     phase
	phases [numPhases]int64 // nanoseconds
	// partial is the time spent in phase at when the session ended there
	// (an unfinished session cut while solving WORK still cost that time).
	partial int64
	hashes  uint64 // hashes computed to solve WORK, found or not
}

// sessionRunner holds what every session of a run shares.
type sessionRunner struct {
	addr    string
	tls     *tls.Config // nil: plain TCP
	dialers []net.Dialer
	// identities are per-identity TLS configurations (--identities);
	// empty: every session uses tls.
	identities   []*tls.Config
	nextIdentity atomic.Uint64
	workTimeout  time.Duration
	otherTimeout time.Duration
	answer       string
	// workBits is the difficulty the server last sent in WORK (-1: none
	// seen): the report states what was measured, not what was expected.
	workBits atomic.Int64
	// inflight counts sessions in each phase now, for the progress line
	// and for saying what unfinished sessions were doing.
	inflight [numPhases]atomic.Int64
	// held counts park mode's sessions parked at WORK and held open: in
	// flight for the peak, though no phase is running.
	held atomic.Int64
}

// inFlight returns how many sessions are in each phase now.
func (r *sessionRunner) inFlight() (total int64, by [numPhases]int64) {
	for i := range r.inflight {
		by[i] = r.inflight[i].Load()
		total += by[i]
	}
	return total, by
}

func newSessionRunner(cfg *Config) *sessionRunner {
	r := &sessionRunner{
		addr:         net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		workTimeout:  cfg.WorkTimeout,
		otherTimeout: cfg.OtherTimeout,
		answer:       "load test",
	}
	r.workBits.Store(-1)
	if !cfg.Plain {
		r.tls = cfg.TLS.Clone()
		if r.tls.ServerName == "" {
			r.tls.ServerName = cfg.Host
		}
		memoizeChainCheck(r.tls)
		if cfg.Resumption && r.tls.ClientSessionCache == nil {
			r.tls.ClientSessionCache = tls.NewLRUClientSessionCache(1024)
		}
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

// sessionState follows one session through its phases, keeps the
// runner's in-flight gauges right and builds the outcome.
type sessionState struct {
	r     *sessionRunner
	o     outcome
	since time.Time
}

func (r *sessionRunner) begin() *sessionState {
	r.inflight[phConnect].Add(1)
	return &sessionState{r: r, since: time.Now()}
}

// next closes the current phase (recording its duration) and enters the next.
func (st *sessionState) next() {
	now := time.Now()
	st.o.phases[st.o.at] = int64(now.Sub(st.since))
	st.since = now
	st.r.inflight[st.o.at].Add(-1)
	st.o.at++
	if st.o.at < numPhases {
		st.r.inflight[st.o.at].Add(1)
	}
}

// skip leaves the current phase without a duration (plain TCP has no TLS
// handshake): it is not recorded, so the summary shows no such phase.
func (st *sessionState) skip() {
	st.o.phases[st.o.at] = skipped
	st.r.inflight[st.o.at].Add(-1)
	st.o.at++
	st.r.inflight[st.o.at].Add(1)
}

// skipped marks a phase a session did not go through.
const skipped = -1

// end leaves the in-flight gauges and returns the outcome as k.
func (st *sessionState) end(k kind, line string) outcome {
	if st.o.at < numPhases {
		st.r.inflight[st.o.at].Add(-1)
		st.o.partial = int64(time.Since(st.since))
	}
	st.o.kind, st.o.line = k, line
	return st.o
}

// run performs one session. With park it stops after receiving WORK and
// returns the live connection (outcome kParked) for the caller to hold.
// n picks the source address. A session cut by ctx is kUnfinished.
func (r *sessionRunner) run(ctx context.Context, n uint64, park bool) (outcome, net.Conn) {
	st := r.begin()
	d := &r.dialers[n%uint64(len(r.dialers))]
	raw, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		if ctx.Err() != nil {
			return st.end(kUnfinished, ""), nil
		}
		return st.end(kConnect, err.Error()), nil
	}
	st.next()
	conn := raw
	if r.tls != nil {
		conn = tls.Client(raw, r.nextTLS())
	}
	keep := false
	defer func() {
		if !keep {
			conn.Close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	_ = conn.SetDeadline(time.Now().Add(r.otherTimeout))
	if tc, ok := conn.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil {
			var rh tls.RecordHeaderError
			if errors.As(err, &rh) {
				err = fmt.Errorf("%w (the server does not speak TLS there: a plain tcp:// listener takes --plain)", err)
			}
			return r.fail(ctx, st, kTLS, err), nil
		}
		st.next()
		st.o.resumed = tc.ConnectionState().DidResume
	} else {
		st.skip()
	}
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
				return r.fail(ctx, st, kTLS, err), nil
			}
			return r.fail(ctx, st, kProtocol, err), nil
		}
		if st.o.at == phVerify {
			st.next() // the server's answer to the suffix
		}
		req, err := client.ParseRequest(line)
		if err != nil {
			return st.end(kProtocol, err.Error()), nil
		}
		out = out[:0]
		switch {
		case req.Kind == client.KindFail:
			k := kServerFail
			if step == 2 && !protocol.IsFixedFail(line) {
				k = kInjectedFail
			}
			return st.end(k, line), nil
		case req.Kind == client.KindHello && step == 0:
			out = append(out, protocol.HelloBack...)
			step = 1
		case req.Kind == client.KindWork && step == 1:
			r.workBits.Store(int64(req.NBits))
			st.next() // HELLO phase over: WORK arrived
			if park {
				keep = true
				stop()
				_ = conn.SetDeadline(time.Time{})
				return st.end(kParked, ""), conn
			}
			token = req.Token
			sctx, cancel := context.WithTimeout(ctx, r.workTimeout)
			sol, err := pow.Solve(sctx, req.Token, req.NBits, 1)
			cancel()
			st.o.hashes = sol.Hashes // set whether or not it found one
			if err != nil {
				if ctx.Err() != nil {
					return st.end(kUnfinished, ""), nil
				}
				if errors.Is(err, context.DeadlineExceeded) {
					return st.end(kTimeout, "WORK not solved within --work-timeout"), nil
				}
				return st.end(kProtocol, err.Error()), nil
			}
			out = append(out, sol.Suffix...)
			step = 2
		case req.Kind == client.KindBody && step == 2:
			sum := sha256.Sum256([]byte(token + req.Arg))
			out = hex.AppendEncode(out, sum[:])
			out = append(out, ' ')
			out = append(out, r.answer...)
		case req.Kind == client.KindDone && step == 2:
			st.next() // body over
			out = append(out, protocol.OK...)
			out = append(out, '\n')
			_ = conn.SetWriteDeadline(time.Now().Add(r.otherTimeout))
			if _, err := conn.Write(out); err != nil {
				return r.fail(ctx, st, kProtocol, err), nil
			}
			st.next()
			return st.end(kCompleted, ""), nil
		default:
			return st.end(kProtocol, "unexpected "+req.Kind.String()), nil
		}
		out = append(out, '\n')
		_ = conn.SetWriteDeadline(time.Now().Add(r.otherTimeout))
		if _, err := conn.Write(out); err != nil {
			return r.fail(ctx, st, kProtocol, err), nil
		}
		if step == 2 && st.o.at == phSolve {
			st.next() // suffix sent: the server verifies
		}
	}
}

// fail classifies an I/O error: cancellation and timeouts win over the
// caller's guess.
func (r *sessionRunner) fail(ctx context.Context, st *sessionState, guess kind, err error) outcome {
	if ctx.Err() != nil {
		return st.end(kUnfinished, "")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return st.end(kTimeout, err.Error())
	}
	return st.end(guess, err.Error())
}

var errLineTooLong = errors.New("server line longer than MaxLineLength")

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > protocol.MaxLineLength {
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
