package client

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"tlslpd/pow"
	"tlslpd/protocol"
	"tlslpd/reflog"
)

// Sentinel errors Run wraps; callers branch on them with errors.Is.
var (
	// ErrServerFail: the server sent a FAIL line. The line is in
	// Result.FailLine and in the *ServerFailError wrapping this.
	ErrServerFail = errors.New("server sent FAIL")
	// ErrConnect: no port in the list accepted a TCP connection.
	ErrConnect = errors.New("connect failed")
	// ErrTLS: the TLS handshake failed or the server rejected us with an alert.
	ErrTLS = errors.New("TLS failure")
	// ErrTimeout: a step ran into WorkTimeout or OtherTimeout.
	ErrTimeout = errors.New("timed out")
	// ErrProtocol: the server sent something the protocol does not allow, or
	// closed the connection mid-session.
	ErrProtocol = errors.New("protocol violation by server")
	// ErrConfig: the Config cannot be used.
	ErrConfig = errors.New("invalid client configuration")
)

// ServerFailError carries the server's FAIL line. It wraps ErrServerFail.
type ServerFailError struct {
	Line string
	// Injected is set when the FAIL came during the body and is not one of
	// the protocol's fixed FAIL lines, i.e. the server's random injection.
	Injected bool
}

func (e *ServerFailError) Error() string { return "server sent " + strconv.Quote(e.Line) }

// Unwrap lets errors.Is(err, ErrServerFail) match.
func (e *ServerFailError) Unwrap() error { return ErrServerFail }

// DefaultAnswers are the values sent for body commands absent from
// Config.Answers. They are obviously fake on purpose.
func DefaultAnswers() map[string]string {
	return map[string]string{
		"FULL_NAME":  "Ada Lovelace",
		"EMAIL1":     "ada@example.com",
		"EMAIL2":     "ada.lovelace@example.org",
		"SOCIAL":     "@ada",
		"BIRTHDATE":  "1815-12-10",
		"COUNTRY":    "United Kingdom",
		"ADDR_LINE1": "12 St James's Square",
		"ADDR_LINE2": "London SW1Y 4JH",
	}
}

// Config describes one session. Host, Ports and TLS are required.
type Config struct {
	Host  string
	Ports []int
	// TLS is used as given except that ServerName defaults to Host. Build it
	// with LoadTLS or by hand; mTLS means Certificates is set.
	TLS *tls.Config
	// Plain plays the session over plain TCP, for a tcp:// (or auto://)
	// listener; TLS is then unused.
	Plain bool
	// WorkTimeout bounds solving the WORK challenge; OtherTimeout bounds
	// dialing, the handshake and every wait for a server line. Zero means
	// the reference defaults.
	WorkTimeout  time.Duration
	OtherTimeout time.Duration
	// Answers overrides DefaultAnswers per body command.
	Answers map[string]string
	// SolverWorkers is passed to pow.Solve (≤ 0: GOMAXPROCS).
	SolverWorkers int
	// Tutorial only makes the session narrate each step at INFO.
	Tutorial bool
	// Logger receives the session's log; nil discards.
	Logger *zerolog.Logger
	// WorkBinary, if set, solves WORK instead of the built-in solver, as
	// the reference client runs its solver: "BINARY TOKEN N_BITS" in the
	// binary's directory with only LC_ALL=C in its environment; the suffix
	// is the rest of the first stdout line that starts with "RESULT:".
	WorkBinary string
	// Progress, if set, receives a line every ProgressEvery while the
	// built-in solver works: hashes/s and the expected time at the
	// server's n_bits.
	Progress      io.Writer
	ProgressEvery time.Duration
	// RefLog, if set, receives the reference client's log lines.
	RefLog *reflog.Logger
}

// Outcome is how a session ended.
type Outcome uint8

// Outcomes.
const (
	OutcomeError Outcome = iota
	OutcomeCompleted
	OutcomeServerFail
)

func (o Outcome) String() string {
	switch o {
	case OutcomeCompleted:
		return "completed"
	case OutcomeServerFail:
		return "server_fail"
	}
	return "error"
}

// Timing holds the duration of each step. A step runs from the moment the
// client starts waiting for the server's request to the moment its reply
// has been written, so server think time is included.
type Timing struct {
	Connect, Handshake, Hello, Work, Solve, Body, Done, Total time.Duration
}

// Result describes a session, also a failed one (as far as it got).
type Result struct {
	Outcome      Outcome
	Port         int
	FailLine     string
	Injected     bool
	NBits        int
	Hashes       uint64
	BodyRequests int
	TLSVersion   uint16
	Timing       Timing
}

// LoadTLS builds a client tls.Config: the server is verified against
// caFile and certFile/keyFile are presented as the client certificate.
// With insecure, like the reference client's --insecure, the server's
// certificate is not verified and the CA file is not read; the client
// certificate is still presented when its files load (an mTLS server asks
// for it), and left out when they do not (an --insecure server does not).
// Callers keep insecure to loopback hosts (Main refuses others).
func LoadTLS(certFile, keyFile, caFile string, insecure bool) (*tls.Config, error) {
	if insecure {
		cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // the reference's --insecure, loopback only
		if pair, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
			cfg.Certificates = []tls.Certificate{pair}
		}
		return cfg, nil
	}
	pool, err := loadCAPool(caFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load client certificate: %w", err)
	}
	cfg.Certificates = []tls.Certificate{pair}
	return cfg, nil
}

// loadCAPool reads the CA that signed the server's certificate.
func loadCAPool(caFile string) (*x509.CertPool, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("CA certificate %s: %w: no PEM certificate found", caFile, ErrConfig)
	}
	return pool, nil
}

// session is the state of one Run; it exists so the steps can share the
// connection and reader without a long parameter list.
type session struct {
	cfg     Config
	log     *zerolog.Logger
	conn    net.Conn
	r       *bufio.Reader
	answers map[string]string
	res     *Result
	ctx     context.Context
	token   string
	ref     *reflog.Logger
	// ahead is a read started while solving WORK (so that a FAIL or a
	// close stops the solver); the next line comes from it.
	ahead chan lineResult
}

type lineResult struct {
	line string
	err  error
}

// Run performs one session and reports how it went. The error is nil only
// for a completed session; otherwise it wraps one of the sentinel errors
// (or ctx's error) and res tells how far the session got.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	start := time.Now()
	defer func() { res.Timing.Total = time.Since(start) }()
	if err := normalise(&cfg); err != nil {
		return res, err
	}
	s := &session{cfg: cfg, log: cfg.Logger, res: &res, ctx: ctx, answers: DefaultAnswers(), ref: cfg.RefLog}
	for k, v := range cfg.Answers {
		s.answers[k] = v
	}

	t := time.Now()
	raw, port, err := dialPorts(ctx, cfg, s.log, s.ref)
	res.Timing.Connect = time.Since(t)
	if err != nil {
		return res, err
	}
	res.Port = port
	s.ref.Log(reflog.Info, "Connected to "+strconv.Itoa(port))
	defer func() {
		raw.Close()
		s.ref.Log(reflog.Info, "Connection closed.")
	}()

	if cfg.Plain {
		stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Now()) })
		defer stop()
		s.conn = raw
		s.r = bufio.NewReaderSize(raw, 4096)
		return res, s.run()
	}

	t = time.Now()
	tcfg := cfg.TLS.Clone()
	if tcfg.ServerName == "" {
		tcfg.ServerName = cfg.Host
	}
	conn := tls.Client(raw, tcfg)
	hctx, cancel := context.WithTimeout(ctx, cfg.OtherTimeout)
	err = conn.HandshakeContext(hctx)
	cancel()
	res.Timing.Handshake = time.Since(t)
	if err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("TLS handshake: %w", ctx.Err())
		}
		return res, fmt.Errorf("TLS handshake with %s: %w: %w%s", raw.RemoteAddr(), ErrTLS, err, tlsFailureHint(err))
	}
	res.TLSVersion = conn.ConnectionState().Version
	s.log.Debug().Str("version", tls.VersionName(res.TLSVersion)).Int("port", port).Msg("TLS established")

	// Cancelling ctx must unblock a pending read; expiring the deadline does
	// that without racing the reader for the connection.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	s.conn = conn
	s.r = bufio.NewReaderSize(conn, 4096)
	return res, s.run()
}

func normalise(cfg *Config) error {
	if cfg.Host == "" {
		return fmt.Errorf("%w: empty host", ErrConfig)
	}
	if len(cfg.Ports) == 0 {
		return fmt.Errorf("%w: no ports", ErrConfig)
	}
	if cfg.TLS == nil && !cfg.Plain {
		return fmt.Errorf("%w: no TLS configuration", ErrConfig)
	}
	for cmd := range cfg.Answers {
		if !isBodyCommand(cmd) {
			return fmt.Errorf("%w: answer for unknown command %q", ErrConfig, cmd)
		}
	}
	if cfg.WorkTimeout <= 0 {
		cfg.WorkTimeout = protocol.DefaultWorkTimeout
	}
	if cfg.OtherTimeout <= 0 {
		cfg.OtherTimeout = protocol.DefaultOtherTimeout
	}
	if cfg.Logger == nil {
		nop := zerolog.Nop()
		cfg.Logger = &nop
	}
	return nil
}

func isBodyCommand(cmd string) bool {
	for _, c := range protocol.BodyCommands {
		if c == cmd {
			return true
		}
	}
	return false
}

// dialPorts tries each port in order, like the reference client, and keeps
// the first that accepts. Only connection failures move on to the next port;
// a TLS failure later is final because another port would be another server.
func dialPorts(ctx context.Context, cfg Config, log *zerolog.Logger, ref *reflog.Logger) (net.Conn, int, error) {
	d := net.Dialer{Timeout: cfg.OtherTimeout}
	var errs []error
	for _, p := range cfg.Ports {
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(p))
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			log.Info().Str("addr", addr).Msg("connected")
			return c, p, nil
		}
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("connect: %w", ctx.Err())
		}
		log.Debug().Str("addr", addr).Err(err).Msg("connect failed, trying next port")
		if ref.Enabled(reflog.Warning) {
			ref.Log(reflog.Warning, "Can't connect to "+reflog.Repr(cfg.Host)+":"+strconv.Itoa(p)+": Failed to connect to "+addr)
		}
		errs = append(errs, err)
	}
	return nil, 0, fmt.Errorf("%w: tried %s ports %v: %w", ErrConnect, cfg.Host, cfg.Ports, errors.Join(errs...))
}

func (s *session) narrate(msg string, args ...any) {
	if s.cfg.Tutorial {
		s.log.Info().Fields(args).Msg(msg)
		return
	}
	s.log.Debug().Fields(args).Msg(msg)
}

func (s *session) run() error {
	res := s.res
	// step is where we are, for error messages and for classifying FAIL.
	step := "HELLO"
	stepStart := time.Now()
	for {
		req, err := s.next(step)
		if err != nil {
			return err
		}
		switch req.Kind {
		case KindFail:
			res.Outcome = OutcomeServerFail
			res.FailLine = req.Line
			res.Injected = step == "body" && !protocol.IsFixedFail(req.Line)
			ev := s.log.Warn()
			if res.Injected {
				ev = s.log.Info() // the protocol working, not a problem
			}
			ev.Str("line", req.Line).Str("step", step).Msg("server sent FAIL")
			return &ServerFailError{Line: req.Line, Injected: res.Injected}
		case KindHello:
			if step != "HELLO" {
				return s.unexpected(req, step)
			}
			s.narrate("server said HELLO; replying HELLOBACK")
			if err := s.send(protocol.HelloBack); err != nil {
				return err
			}
			res.Timing.Hello = time.Since(stepStart)
			step, stepStart = "WORK", time.Now()
		case KindWork:
			if step != "WORK" {
				return s.unexpected(req, step)
			}
			if err := s.work(req); err != nil {
				return err
			}
			res.Timing.Work = time.Since(stepStart)
			step, stepStart = "body", time.Now()
		case KindBody:
			if step != "body" {
				return s.unexpected(req, step)
			}
			sum := sha256.Sum256([]byte(s.token + req.Arg))
			reply := hex.EncodeToString(sum[:]) + " " + s.answers[req.Command]
			s.narrate("body request", "command", req.Command, "random_string", req.Arg)
			if err := s.send(reply); err != nil {
				return err
			}
			res.BodyRequests++
		case KindDone:
			if step != "body" {
				return s.unexpected(req, step)
			}
			res.Timing.Body = time.Since(stepStart)
			stepStart = time.Now()
			s.narrate("server said DONE; replying OK")
			if err := s.send(protocol.OK); err != nil {
				return err
			}
			res.Timing.Done = time.Since(stepStart)
			res.Outcome = OutcomeCompleted
			s.log.Info().Int("body_requests", res.BodyRequests).Int("n_bits", res.NBits).Msg("session completed")
			return nil
		}
	}
}

func (s *session) work(req Request) error {
	s.token = req.Token
	s.res.NBits = req.NBits
	s.narrate("server sent WORK; solving", "token", req.Token, "n_bits", req.NBits)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.WorkTimeout)
	defer cancel()

	// Read ahead while solving: the server may end the session meanwhile
	// (FAIL Server shutting down., its own timeout, a close), and then
	// there is nothing left to solve for.
	if err := s.conn.SetReadDeadline(time.Now().Add(s.cfg.WorkTimeout + s.cfg.OtherTimeout)); err != nil {
		return fmt.Errorf("set read deadline: %w", err)
	}
	ahead := make(chan lineResult, 1)
	go func() {
		line, err := readLine(s.r)
		ahead <- lineResult{line, err}
	}()
	interrupted := make(chan lineResult, 1)
	solved, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case r := <-ahead:
			interrupted <- r
			cancel()
		case <-solved:
		}
	}()

	t := time.Now()
	suffix, err := s.solve(ctx, req)
	s.res.Timing.Solve = time.Since(t)
	close(solved)
	<-watched
	select {
	case r := <-interrupted:
		return s.interruptedSolving(r, req)
	default:
		s.ahead = ahead
	}
	if err != nil {
		switch {
		case s.ctx.Err() != nil:
			return fmt.Errorf("solving WORK (n_bits %d): %w", req.NBits, s.ctx.Err())
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("solving WORK (n_bits %d): %w after work timeout %s", req.NBits, ErrTimeout, s.cfg.WorkTimeout)
		case errors.Is(err, ErrWorkBinary):
			return fmt.Errorf("solving WORK (n_bits %d): %w", req.NBits, err)
		}
		return fmt.Errorf("solving WORK (n_bits %d): %w: %w", req.NBits, ErrProtocol, err)
	}
	s.narrate("solved WORK", "suffix", suffix, "hashes", s.res.Hashes, "elapsed", s.res.Timing.Solve)
	return s.send(suffix)
}

// interruptedSolving turns what the server sent while we solved into the
// session's end.
func (s *session) interruptedSolving(r lineResult, req Request) error {
	if s.ctx.Err() != nil {
		// Our own cancellation (Ctrl-C) closed the connection under the
		// reader: the server did nothing.
		return fmt.Errorf("solving WORK (n_bits %d): %w", req.NBits, s.ctx.Err())
	}
	if r.err != nil {
		return s.readError(r.err, fmt.Sprintf("the WORK suffix (n_bits %d) to be solved; the server ended the session first", req.NBits))
	}
	s.ref.Log(reflog.Info, "Received "+reflog.Repr(r.line))
	if got, err := ParseRequest(r.line); err == nil && got.Kind == KindFail {
		s.res.Outcome = OutcomeServerFail
		s.res.FailLine = r.line
		s.log.Warn().Str("line", r.line).Str("step", "WORK").Msg("server sent FAIL while we solved WORK; stopped solving")
		return &ServerFailError{Line: r.line}
	}
	return fmt.Errorf("%w: got %q while solving WORK", ErrProtocol, r.line)
}

// solve runs the built-in solver (with progress) or the work binary.
func (s *session) solve(ctx context.Context, req Request) (string, error) {
	if s.cfg.WorkBinary != "" {
		return RunWorkBinary(ctx, s.cfg.WorkBinary, req.Token, req.NBits)
	}
	var counter atomic.Uint64
	stop := s.progress(&counter, req.NBits)
	sol, err := pow.SolveCounted(ctx, req.Token, req.NBits, s.cfg.SolverWorkers, &counter)
	stop()
	s.res.Hashes = sol.Hashes
	return sol.Suffix, err
}

// progress writes a line to cfg.Progress every ProgressEvery until the
// returned stop is called.
func (s *session) progress(counter *atomic.Uint64, nBits int) (stop func()) {
	if s.cfg.Progress == nil || s.cfg.ProgressEvery <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		began := time.Now()
		tick := time.NewTicker(s.cfg.ProgressEvery)
		defer tick.Stop()
		expected := math.Ldexp(1, nBits) // hashes a search takes on average
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				elapsed := now.Sub(began).Seconds()
				n := float64(counter.Load())
				rate := n / elapsed
				line := fmt.Sprintf("solving WORK at n_bits %d: %s hashes in %.0fs, %s hashes/s; a solution takes %s hashes on average",
					nBits, si(n), elapsed, si(rate), si(expected))
				if rate > 0 {
					line += fmt.Sprintf(", about %s at this rate", humanSeconds(expected/rate))
				}
				fmt.Fprintln(s.cfg.Progress, line)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func si(v float64) string {
	switch {
	case v >= 1e12:
		return fmt.Sprintf("%.3g", v)
	case v >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

func humanSeconds(sec float64) string {
	switch {
	case sec < 60:
		return fmt.Sprintf("%.0fs", math.Max(sec, 1))
	case sec < 3600:
		return fmt.Sprintf("%.0f min", sec/60)
	case sec < 48*3600:
		return fmt.Sprintf("%.1f h", sec/3600)
	case sec < 365*86400:
		return fmt.Sprintf("%.0f days", sec/86400)
	}
	return fmt.Sprintf("%.3g years", sec/(365*86400))
}

func (s *session) unexpected(req Request, step string) error {
	return fmt.Errorf("%w: got %q while waiting for %s", ErrProtocol, req.Line, step)
}

// next reads and parses the next server line within OtherTimeout.
func (s *session) next(step string) (Request, error) {
	if err := s.conn.SetReadDeadline(time.Now().Add(s.cfg.OtherTimeout)); err != nil {
		return Request{}, fmt.Errorf("set read deadline: %w", err)
	}
	var line string
	var err error
	if s.ahead != nil {
		// The deadline just set applies to that pending read too.
		r := <-s.ahead
		s.ahead = nil
		line, err = r.line, r.err
	} else {
		line, err = readLine(s.r)
	}
	if err != nil {
		return Request{}, s.readError(err, step)
	}
	s.log.Debug().Str("line", line).Msg("received")
	s.ref.Log(reflog.Info, "Received "+reflog.Repr(line))
	if !utf8.ValidString(line) {
		return Request{}, fmt.Errorf("%w: invalid UTF-8 while waiting for %s", ErrProtocol, step)
	}
	req, err := ParseRequest(line)
	if err != nil {
		return req, fmt.Errorf("waiting for %s: %w: %w", step, ErrProtocol, err)
	}
	return req, nil
}

func (s *session) readError(err error, step string) error {
	if s.ctx.Err() != nil {
		return fmt.Errorf("waiting for %s: %w", step, s.ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("waiting for %s: %w after other timeout %s", step, ErrTimeout, s.cfg.OtherTimeout)
	}
	// With TLS 1.3 the server checks our certificate after our handshake
	// has finished, so its rejection arrives as an alert on the first read.
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		return fmt.Errorf("waiting for %s: %w: %w%s", step, ErrTLS, err, refusedCertificateHint(err))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("waiting for %s: %w: connection closed", step, ErrProtocol)
	}
	if errors.Is(err, errLineTooLong) {
		return fmt.Errorf("waiting for %s: %w: %w", step, ErrProtocol, err)
	}
	return fmt.Errorf("waiting for %s: %w", step, err)
}

// tlsFailureHint is refusedCertificateHint, or for a server that answered
// the ClientHello with something other than TLS, what it likely is.
func tlsFailureHint(err error) string {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return " (the server does not speak TLS there: a plain tcp:// listener takes --plain)"
	}
	return refusedCertificateHint(err)
}

// refusedCertificateHint says what a server's certificate alert means for
// the user: the server refused the client certificate we showed (or the
// lack of one), not its own.
func refusedCertificateHint(err error) string {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Err == nil {
		return ""
	}
	// crypto/tls reports a peer's alert as an unexported type; its text
	// is the alert's name.
	switch oe.Err.Error() {
	case "tls: bad certificate", "tls: unsupported certificate", "tls: revoked certificate",
		"tls: expired certificate", "tls: unknown certificate", "tls: unknown certificate authority":
		return " (the server refused our client certificate: a server in --client-auth verify mode takes only certificates its --ca-cert signed (check --client-cert and --private-key); a --transient-cert needs a server in --client-auth any mode)"
	case "tls: certificate required":
		return " (the server requires a client certificate: give --client-cert and --private-key, or --transient-cert)"
	}
	return ""
}

func (s *session) send(line string) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.cfg.OtherTimeout)); err != nil {
		return fmt.Errorf("set write deadline: %w", err)
	}
	s.log.Debug().Str("line", line).Msg("sending")
	if s.ref.Enabled(reflog.Info) {
		s.ref.Log(reflog.Info, "Sending to server: "+reflog.Repr(line+"\n"))
	}
	if _, err := io.WriteString(s.conn, line+"\n"); err != nil {
		if s.ctx.Err() != nil {
			return fmt.Errorf("send: %w", s.ctx.Err())
		}
		return fmt.Errorf("send %q: %w", line, err)
	}
	return nil
}

var errLineTooLong = fmt.Errorf("line longer than %d bytes", protocol.MaxLineLength)

// readLine returns the next line without '\n', refusing lines longer than
// MaxLineLength so a hostile server cannot make us buffer without bound.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > protocol.MaxLineLength {
			return "", errLineTooLong
		}
		switch {
		case err == nil:
			return string(buf[:len(buf)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}
