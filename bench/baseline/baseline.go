package baseline

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
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"tlslpd/protocol"
)

// Injection chooses how body requests are drawn in normal mode.
type Injection uint8

const (
	// InjectReference draws each request from the 8 commands plus FAIL,
	// uniformly, like the reference server.
	InjectReference Injection = iota
	// InjectNever draws only from the 8 commands, so every correct client
	// completes; load tests use it to measure whole sessions.
	InjectNever
	// InjectAlways makes the first body request a FAIL, for tests.
	InjectAlways
)

// ErrConfig is returned by Serve for an unusable Config.
var ErrConfig = errors.New("invalid baseline configuration")

// Config of the baseline server. Zero values mean the reference defaults.
type Config struct {
	// TLS must hold the server certificate. mTLS is whatever ClientAuth
	// says; use NewTLSConfig for the reference's secure default.
	TLS *tls.Config
	// Plain serves the protocol over plain TCP (TLS is then unused): the
	// goroutine-per-connection side of tlslpd's tcp:// transport.
	Plain        bool
	Token        string
	RandomString string
	// NBits is the difficulty; 0 means protocol.DefaultNBits. Use
	// ZeroBits for a challenge every suffix meets.
	NBits    int
	ZeroBits bool
	// Tutorial: the 8 commands once in order, then DONE, and Serve returns
	// after that one connection.
	Tutorial     bool
	Inject       Injection
	WorkTimeout  time.Duration
	OtherTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake; 0 means OtherTimeout.
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
}

// NewTLSConfig is the secure default: the server certificate, and client
// certificates required and verified against the CA pool unless insecure.
func NewTLSConfig(cert tls.Certificate, clientCAs *x509.CertPool, insecure bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if !insecure {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = clientCAs
	}
	return cfg
}

func (c *Config) normalise() error {
	if !c.Plain && (c.TLS == nil || (len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil)) {
		return fmt.Errorf("%w: no server certificate", ErrConfig)
	}
	if c.Token == "" {
		c.Token = protocol.DefaultToken
	}
	if c.RandomString == "" {
		c.RandomString = protocol.DefaultRandomString
	}
	if c.ZeroBits {
		c.NBits = 0
	} else if c.NBits == 0 {
		c.NBits = protocol.DefaultNBits
	}
	if c.NBits < 0 || c.NBits > protocol.MaxNBits {
		return fmt.Errorf("%w: n_bits %d outside 0..%d", ErrConfig, c.NBits, protocol.MaxNBits)
	}
	if c.WorkTimeout <= 0 {
		c.WorkTimeout = protocol.DefaultWorkTimeout
	}
	if c.OtherTimeout <= 0 {
		c.OtherTimeout = protocol.DefaultOtherTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = c.OtherTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Serve accepts TLS connections (plain ones with cfg.Plain) on ln (a plain TCP listener) until ctx is
// done, then closes the listener and every open connection and waits for
// their goroutines. In tutorial mode it returns after one session.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	if err := cfg.normalise(); err != nil {
		return err
	}
	tln := ln
	if !cfg.Plain {
		tln = tls.NewListener(ln, cfg.TLS)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	defer wg.Wait()
	for {
		c, err := tln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Transient (e.g. EMFILE surfaces differently); back off briefly.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		forget := func() {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		}
		if cfg.Tutorial {
			handle(ctx, c, &cfg)
			forget()
			ln.Close()
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer forget()
			handle(ctx, c, &cfg)
		}()
	}
}

var errReceiving = errors.New("over-long line or invalid UTF-8")

type conn struct {
	c   net.Conn
	r   *bufio.Reader
	cfg *Config
	log *slog.Logger
}

// handle runs one session; any failure is reported to the peer in one FAIL
// line (best effort) and the caller closes the connection.
func handle(ctx context.Context, c net.Conn, cfg *Config) {
	log := cfg.Logger.With("peer", c.RemoteAddr().String())
	if tc, ok := c.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, cfg.HandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			log.Debug("handshake failed", "err", err)
			return
		}
	}
	s := &conn{c: c, r: bufio.NewReaderSize(c, 2*protocol.MaxLineLength), cfg: cfg, log: log}
	if line, err := s.session(); err != nil {
		log.Debug("session ended", "err", err, "fail", line)
		if line != "" {
			_ = s.send(line)
		}
		return
	}
	log.Debug("session completed")
}

// session returns the FAIL line to send (if any) and why it ended.
func (s *conn) session() (string, error) {
	if err := s.send(protocol.Hello); err != nil {
		return "", err
	}
	reply, fail, err := s.read(s.cfg.OtherTimeout, protocol.FailHelloTimeout)
	if err != nil {
		return fail, err
	}
	if reply != protocol.HelloBack {
		return protocol.FailExpectedHelloBack, fmt.Errorf("bad HELLO reply %q", reply)
	}

	if err := s.send(protocol.Work + " " + s.cfg.Token + " " + strconv.Itoa(s.cfg.NBits)); err != nil {
		return "", err
	}
	suffix, fail, err := s.read(s.cfg.WorkTimeout, protocol.FailWorkTimeout)
	if err != nil {
		return fail, err
	}
	if !meets(s.cfg.Token+suffix, s.cfg.NBits) {
		return protocol.FailInvalidSuffix, fmt.Errorf("suffix %q does not meet %d bits", suffix, s.cfg.NBits)
	}

	sum := sha256.Sum256([]byte(s.cfg.Token + s.cfg.RandomString))
	want := hex.EncodeToString(sum[:])
	n := protocol.BodyRequests
	if s.cfg.Tutorial {
		n = protocol.NumBodyCommands
	}
	for i := range n {
		cmd := s.pick(i)
		if cmd == protocol.Fail {
			return protocol.Fail + " " + s.cfg.RandomString, errors.New("injected FAIL")
		}
		if err := s.send(cmd + " " + s.cfg.RandomString); err != nil {
			return "", err
		}
		reply, fail, err := s.read(s.cfg.OtherTimeout, protocol.FailBodyTimeout)
		if err != nil {
			return fail, err
		}
		cksum, _, _ := cutSpace(reply)
		if cksum != want {
			return protocol.FailInvalidChecksum, fmt.Errorf("checksum %q for %s", cksum, cmd)
		}
	}

	if err := s.send(protocol.Done); err != nil {
		return "", err
	}
	reply, fail, err = s.read(s.cfg.OtherTimeout, protocol.FailDoneTimeout)
	if err != nil {
		return fail, err
	}
	if reply != protocol.OK {
		return protocol.FailExpectedOK, fmt.Errorf("bad DONE reply %q", reply)
	}
	return "", nil
}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func (s *conn) pick(i int) string {
	switch {
	case s.cfg.Tutorial:
		return protocol.BodyCommands[i]
	case s.cfg.Inject == InjectAlways:
		return protocol.Fail
	case s.cfg.Inject == InjectNever:
		return protocol.BodyCommands[rand.IntN(protocol.NumBodyCommands)]
	}
	if k := rand.IntN(protocol.NumBodyCommands + 1); k < protocol.NumBodyCommands {
		return protocol.BodyCommands[k]
	}
	return protocol.Fail
}

func (s *conn) send(line string) error {
	if err := s.c.SetWriteDeadline(time.Now().Add(s.cfg.OtherTimeout)); err != nil {
		return err
	}
	_, err := io.WriteString(s.c, line+"\n")
	return err
}

// read returns the next line; on failure it also returns the FAIL line the
// peer should get: timeoutLine for a timeout, FAIL receiving. for a bad line,
// none when the peer went away.
func (s *conn) read(timeout time.Duration, timeoutLine string) (string, string, error) {
	if err := s.c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", "", err
	}
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > protocol.MaxLineLength {
		return "", protocol.FailReceiving, errReceiving
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "", timeoutLine, err
		}
		return "", "", err
	}
	line = line[:len(line)-1]
	if !utf8.Valid(line) {
		return "", protocol.FailReceiving, errReceiving
	}
	return string(line), "", nil
}

// meets reports whether SHA256(data), read as a big-endian number, ends in
// at least nBits zero bits. Written out plainly on purpose (see doc.go).
func meets(data string, nBits int) bool {
	sum := sha256.Sum256([]byte(data))
	for i := 0; i < nBits; i++ {
		b := sum[31-i/8]
		if b>>(i%8)&1 != 0 {
			return false
		}
	}
	return true
}
