package tlsbridge

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Buffer pooling bounds: buffers larger than maxPooledBuf (e.g. after a
// 1 MiB write) are left to the GC instead of pinning memory in the pool.
const (
	initialBufSize = 2048
	maxPooledBuf   = 64 << 10
)

// maxHandshakeInput bounds ciphertext buffered while an engine is still
// handshaking (waiting for a slot, or pipelined data behind the client's
// Finished). A legitimate client flight is a few KiB; this keeps a flood
// from growing memory without bound.
const maxHandshakeInput = 256 << 10

// defaultMaxHandshakes returns the default cap on handshakes in flight.
//
// A handshake is CPU-bound for ~1 ms of work spread over one or two round
// trips, so most in-flight handshakes are suspended waiting for the peer,
// not burning CPU; the cap therefore exists to bound memory (coroutine
// stack plus crypto/tls state, roughly 30-60 KiB each), not to match
// cores. 32 per core (at least 64) keeps slow peers from starving the
// queue while capping handshake memory at a few MiB per core.
func defaultMaxHandshakes() int {
	return max(64, 32*runtime.GOMAXPROCS(0))
}

// TLS 1.2 policy: forward-secret AEAD suites only. TLS 1.3 suites are not
// configurable in crypto/tls and are all AEAD.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Server is the per-server TLS state shared by all engines: policy,
// session-ticket keys, handshake slots and counters.
type Server struct {
	// outer is the Config every tls.Server is built with. It never changes,
	// so crypto/tls's automatically rotated session-ticket keys (which live
	// on it) survive Reload; the policy itself comes from cur via
	// GetConfigForClient.
	outer *tls.Config
	cur   atomic.Pointer[policy]
	bufs  sync.Pool

	// keepConn13 keeps tls.Conn for TLS 1.3 sessions instead of switching
	// to the package's record layer; only tests and benchmarks set it, to
	// compare the two.
	keepConn13 bool

	mu       sync.Mutex
	max      int
	inFlight int
	qHead    *hsConn
	qTail    *hsConn

	// Idle handshake runners (see hsRunner), at most maxIdleRunners,
	// oldest first; trimTimer ends those idle for runnerIdleTimeout.
	runnersMu         sync.Mutex
	idleRunners       []*hsRunner
	maxIdleRunners    int
	runnerIdleTimeout time.Duration
	trimTimer         *time.Timer
	runnersClosed     bool

	inFlightN atomic.Int64
	queuedN   atomic.Int64
	waitedN   atomic.Int64
	okN       atomic.Int64
	failedN   atomic.Int64
	canceledN atomic.Int64
	resumedN  atomic.Int64
}

// NewServer validates cfg and returns a Server for making engines.
func NewServer(cfg Config) (*Server, error) {
	inner, err := buildPolicy(cfg)
	if err != nil {
		return nil, fmt.Errorf("tlsbridge: new context: %w", err)
	}
	c := &Server{
		max:               maxHandshakes(cfg),
		maxIdleRunners:    defaultMaxIdleRunners(),
		runnerIdleTimeout: runnerIdleTimeout,
	}
	c.outer = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: c.configForClient,
	}
	c.cur.Store(inner)
	c.bufs.New = func() any {
		b := make([]byte, 0, initialBufSize)
		return &b
	}
	return c, nil
}

// defaultMaxIdleRunners bounds the handshake runners kept between
// handshakes: enough for the handshakes a busy core has in flight at
// once, each idle one costing a suspended goroutine whose stack the GC
// shrinks while it waits.
func defaultMaxIdleRunners() int {
	return 8 * runtime.GOMAXPROCS(0)
}

func maxHandshakes(cfg Config) int {
	if cfg.MaxHandshakes > 0 {
		return cfg.MaxHandshakes
	}
	return defaultMaxHandshakes()
}

// Reload swaps in a new certificate / CA / policy for handshakes that start
// afterwards. Established engines keep what they negotiated. On error the
// previous configuration stays in force.
func (c *Server) Reload(cfg Config) error {
	inner, err := buildPolicy(cfg)
	if err != nil {
		return fmt.Errorf("tlsbridge: reload: %w", err)
	}
	c.cur.Store(inner)
	c.mu.Lock()
	c.max = maxHandshakes(cfg)
	admitted := c.admitLocked()
	c.mu.Unlock()
	wakeAdmitted(admitted)
	return nil
}

// Stats returns a snapshot of the counters; safe from any goroutine.
func (c *Server) Stats() Stats {
	return Stats{
		HandshakesInFlight: c.inFlightN.Load(),
		HandshakesQueued:   c.queuedN.Load(),
		HandshakesWaited:   c.waitedN.Load(),
		HandshakesOK:       c.okN.Load(),
		HandshakesFailed:   c.failedN.Load(),
		HandshakesCanceled: c.canceledN.Load(),
		Resumed:            c.resumedN.Load(),
		IdleRunners:        int64(c.idleRunnerCount()),
	}
}

// policy is one immutable generation of the server configuration.
type policy struct {
	tls    *tls.Config
	chains *chainCache // nil in insecure mode
}

func buildPolicy(cfg Config) (*policy, error) {
	t, chains, err := buildTLSConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &policy{tls: t, chains: chains}, nil
}

func buildTLSConfig(cfg Config) (*tls.Config, *chainCache, error) {
	if len(cfg.Certificate.Certificate) == 0 {
		return nil, nil, errors.New("a server certificate is required")
	}
	if cfg.Certificate.PrivateKey == nil {
		return nil, nil, errors.New("the server certificate has no private key")
	}
	if cfg.Certificate.Leaf == nil {
		if _, err := x509.ParseCertificate(cfg.Certificate.Certificate[0]); err != nil {
			return nil, nil, fmt.Errorf("server certificate does not parse: %w", err)
		}
	}
	if cfg.MaxHandshakes < 0 {
		return nil, nil, fmt.Errorf("MaxHandshakes %d is negative", cfg.MaxHandshakes)
	}
	t := &tls.Config{
		Certificates: []tls.Certificate{cfg.Certificate},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: slices.Clone(tls12Suites),
		ClientCAs:    cfg.ClientCAs,
	}
	if cfg.Insecure {
		t.ClientAuth = tls.NoClientCert
		t.ClientCAs = nil
		return t, nil, nil
	}
	if cfg.ClientCAs == nil {
		return nil, nil, errors.New("ClientCAs is required unless Insecure is set")
	}
	// A certificate is required and its chain verified — by chainCache in
	// VerifyConnection instead of crypto/tls, so a repeated certificate is
	// not re-verified (see chainCache). VerifyConnection also runs on
	// resumed sessions, so resumption is checked against the current CAs.
	chains := newChainCache(cfg.ClientCAs, defaultChainCacheSize)
	t.ClientAuth = tls.RequireAnyClientCert
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		return chains.verify(cs.PeerCertificates, time.Now())
	}
	return t, chains, nil
}

// configForClient picks the current policy for one handshake. For a client
// that offers TLS 1.3 it returns a per-connection copy carrying a key-log
// writer bound to that connection, which is how the engine learns the
// traffic secrets it needs to run the record layer itself afterwards.
func (c *Server) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	cur := c.cur.Load().tls
	h, ok := hello.Conn.(*hsConn)
	if !ok || c.keepConn13 || !slices.Contains(hello.SupportedVersions, tls.VersionTLS13) {
		return cur, nil
	}
	per := cur.Clone()
	per.KeyLogWriter = (*keyLogger)(h)
	return per, nil
}

// schedule takes a handshake slot for h (setting h.admitted), or queues h
// (FIFO) to be admitted later by admitLocked.
func (c *Server) schedule(h *hsConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.qHead == nil && c.inFlight < c.max {
		c.inFlight++
		c.inFlightN.Store(int64(c.inFlight))
		h.admitted.Store(true)
		return
	}
	h.queued = true
	if c.qTail == nil {
		c.qHead = h
	} else {
		c.qTail.qNext = h
		h.qPrev = c.qTail
	}
	c.qTail = h
	c.queuedN.Add(1)
	c.waitedN.Add(1)
}

// admitLocked gives free slots to queued handshakes and returns them; the
// caller wakes their owners (which start them) once c.mu is released.
func (c *Server) admitLocked() []*hsConn {
	var admitted []*hsConn
	for c.qHead != nil && c.inFlight < c.max {
		h := c.qHead
		c.unlinkLocked(h)
		c.inFlight++
		h.admitted.Store(true)
		admitted = append(admitted, h)
	}
	c.inFlightN.Store(int64(c.inFlight))
	return admitted
}

// wakeAdmitted tells the owners of newly admitted handshakes to start them
// on their own goroutines.
func wakeAdmitted(admitted []*hsConn) {
	for _, h := range admitted {
		h.e.wake()
	}
}

func (c *Server) unlinkLocked(h *hsConn) {
	if h.qPrev != nil {
		h.qPrev.qNext = h.qNext
	} else {
		c.qHead = h.qNext
	}
	if h.qNext != nil {
		h.qNext.qPrev = h.qPrev
	} else {
		c.qTail = h.qPrev
	}
	h.qPrev, h.qNext = nil, nil
	h.queued = false
	c.queuedN.Add(-1)
}

// finish frees a slot and hands it to the next queued handshake.
func (c *Server) finish() {
	c.mu.Lock()
	c.inFlight--
	admitted := c.admitLocked()
	c.mu.Unlock()
	wakeAdmitted(admitted)
}

// dequeue removes h from the wait queue if it is still there; it reports
// whether it was (so it never got, and never will get, a slot).
func (c *Server) dequeue(h *hsConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !h.queued {
		return false
	}
	c.unlinkLocked(h)
	return true
}

func (c *Server) getBuf() *[]byte {
	return c.bufs.Get().(*[]byte)
}

func (c *Server) putBuf(b *[]byte) {
	if b == nil || cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	c.bufs.Put(b)
}
