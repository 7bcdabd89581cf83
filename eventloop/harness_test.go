package eventloop

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/metrics"
	"tlslpd/statemachine"
	"tlslpd/tlsbridge"
)

const (
	testToken  = "AUTH"
	testRandom = "LGTk"
	ioBound    = 10 * time.Second // no single read or write in a test waits longer
)

// cycle draws body commands 0..7 in turn and never FAIL, so normal-mode
// sessions are deterministic; a draw equal to 8 in script injects FAIL.
type cycle struct {
	mu     sync.Mutex
	script []int
	n      int
}

func (c *cycle) IntN(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.n % (n - 1)
	if len(c.script) > 0 {
		d = c.script[c.n%len(c.script)]
	}
	c.n++
	return d
}

type harness struct {
	t       *testing.T
	srv     *Server
	addr    string
	pki     *certs.PKI
	met     *metrics.Metrics
	tls     *tlsbridge.Server
	records chan Record
	runErr  chan error
	cancel  context.CancelFunc
}

// startServer runs a server on 127.0.0.1:0 with short deadlines; mutate
// adjusts the config. It stops when the test ends.
func startServer(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	serverCert, err := pki.Server.TLS()
	require.NoError(t, err)
	// Every test client comes from 127.0.0.1: one address may hold all
	// the suspended handshakes (the per-address share is tlsbridge's to
	// test, and 1000 handshakes at once under -race exceed an eighth).
	tlsCtx, err := tlsbridge.NewServer(tlsbridge.Config{
		Certificate: serverCert, ClientCAs: pki.CertPool(),
		MaxSuspendedHandshakes: 2048, MaxSuspendedPerAddr: 2048,
	})
	require.NoError(t, err)
	t.Cleanup(tlsCtx.Close)

	h := &harness{t: t, pki: pki, met: metrics.New(), tls: tlsCtx, records: make(chan Record, 4096), runErr: make(chan error, 1)}
	cfg := Config{
		Addrs:            []string{"tcp://127.0.0.1:0"},
		Loops:            2,
		Engines:          tlsCtx,
		Session:          statemachine.Config{Token: testToken, RandomString: testRandom, NBits: 8},
		WorkTimeout:      5 * time.Second,
		OtherTimeout:     5 * time.Second,
		HandshakeTimeout: 5 * time.Second,
		MaxConns:         5000,
		ShedDelay:        -1, // tests under -race on a busy machine wait long; shedding tests opt in
		Tick:             10 * time.Millisecond,
		Logger:           zerolog.Nop(),
		Metrics:          h.met,
		NewRand:          func() statemachine.Rand { return &cycle{} },
		OnRecord: func(r *Record) {
			rec := *r
			rec.Replies = append([]statemachine.Reply(nil), r.Replies...)
			h.records <- rec
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.runErr <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-h.runErr:
		t.Fatalf("server did not start: %v", err)
	case <-time.After(ioBound):
		t.Fatal("server did not start in time")
	}
	addrs := srv.Addrs()
	require.Len(t, addrs, 1)
	h.addr = addrs[0].String()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.runErr:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	return h
}

// record waits for the next session record.
func (h *harness) record() Record {
	h.t.Helper()
	select {
	case r := <-h.records:
		return r
	case <-time.After(ioBound):
		h.t.Fatal("no session record")
		return Record{}
	}
}

type clientOpt int

const (
	withCert clientOpt = iota
	noCert
	otherCA
)

func (h *harness) tlsConfig(opt clientOpt) *tls.Config {
	cfg := &tls.Config{RootCAs: h.pki.CertPool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	switch opt {
	case withCert:
		c, err := h.pki.Client.TLS()
		require.NoError(h.t, err)
		cfg.Certificates = []tls.Certificate{c}
	case otherCA:
		other, err := certs.New(certs.Options{})
		require.NoError(h.t, err)
		c, err := other.Client.TLS()
		require.NoError(h.t, err)
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}

// testingT is what peer needs of a test: *testing.T, or a recorder for
// goroutines that must not call FailNow on the test.
type testingT interface {
	require.TestingT
	Helper()
}

// recorder fails by panicking with errFailed; quietSession recovers it.
type recorder struct{ failed string }

var errFailed = fmt.Errorf("assertion failed")

func (r *recorder) Errorf(format string, args ...any) {
	if r.failed == "" {
		r.failed = fmt.Sprintf(format, args...)
	}
}
func (r *recorder) FailNow() { panic(errFailed) }
func (r *recorder) Helper()  {}

// peer is a test client speaking the protocol line by line.
type peer struct {
	t    testingT
	conn *tls.Conn
	r    *bufio.Reader
}

func (h *harness) dial(opt clientOpt) *peer {
	h.t.Helper()
	p, err := h.dialAs(h.t, h.tlsConfig(opt))
	require.NoError(h.t, err)
	h.t.Cleanup(func() { p.conn.Close() })
	return p
}

func (h *harness) dialAs(t testingT, cfg *tls.Config) (*peer, error) {
	raw, err := net.DialTimeout("tcp", h.addr, ioBound)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.SetDeadline(time.Now().Add(ioBound)); err != nil {
		raw.Close()
		return nil, err
	}
	return &peer{t: t, conn: conn, r: bufio.NewReader(conn)}, nil
}

func (p *peer) expect(want string) {
	p.t.Helper()
	got, err := p.r.ReadString('\n')
	require.NoError(p.t, err, "waiting for %q", want)
	require.Equal(p.t, want+"\n", got)
}

func (p *peer) readLine() string {
	p.t.Helper()
	got, err := p.r.ReadString('\n')
	require.NoError(p.t, err)
	return strings.TrimSuffix(got, "\n")
}

func (p *peer) send(line string) {
	p.t.Helper()
	_, err := io.WriteString(p.conn, line+"\n")
	require.NoError(p.t, err)
}

// expectClosed checks the server closed the connection (after any lines).
func (p *peer) expectClosed() {
	p.t.Helper()
	rest, err := p.r.ReadString('\n')
	require.Error(p.t, err, "expected close, got line %q", rest)
	require.Empty(p.t, rest)
	var ne net.Error
	if ok := asNetErr(err, &ne); ok {
		require.False(p.t, ne.Timeout(), "server did not close the connection")
	}
}

func asNetErr(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// armedTimers counts armed timers across the loops, reading each wheel on
// its own loop (wheels are loop-owned and lock-free).
func (h *harness) armedTimers() int {
	h.t.Helper()
	total := 0
	for _, lp := range h.srv.loopList() {
		got := make(chan int, 1)
		err := lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			got <- lp.wheel.Len()
			return nil
		}))
		require.NoError(h.t, err)
		select {
		case n := <-got:
			total += n
		case <-time.After(ioBound):
			h.t.Fatal("loop did not answer")
		}
	}
	return total
}
