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

	adm admissions

	// peerLimits bound what an established peer may send without
	// application data; clock is the monotonic time they are rated by.
	peerLimits [numAbuse]rateLimit
	clock      func() int64
	abuseN     [numAbuse]atomic.Int64
	penalties  penaltyBox
	// refusedPenaltyN counts handshakes refused with ErrPenalized.
	refusedPenaltyN atomic.Int64

	// Idle handshake coroutines, at most maxIdleCoroutines, oldest first;
	// trimTimer ends those idle for coroutineIdleTimeout.
	coroutinesMu         sync.Mutex
	idleCoroutines       []*coroutine
	maxIdleCoroutines    int
	coroutineIdleTimeout time.Duration
	trimTimer            *time.Timer
	coroutinesClosed     bool

	inFlightN atomic.Int64
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
		maxIdleCoroutines:    defaultMaxIdleCoroutines(),
		coroutineIdleTimeout: coroutineIdleTimeout,
	}
	c.adm.init()
	c.adm.setLimits(cfg)
	c.peerLimits = defaultPeerLimits()
	epoch := time.Now()
	c.clock = func() int64 { return int64(time.Since(epoch)) }
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

// defaultMaxIdleCoroutines bounds the handshake coroutines kept between
// handshakes: enough for the handshakes a busy core has in flight at
// once, each idle one costing a suspended goroutine whose stack the GC
// shrinks while it waits.
func defaultMaxIdleCoroutines() int {
	return 8 * runtime.GOMAXPROCS(0)
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
	c.adm.setLimits(cfg)
	return nil
}

// Stats returns a snapshot of the counters; safe from any goroutine.
func (c *Server) Stats() Stats {
	return Stats{
		HandshakesInFlight:      c.inFlightN.Load(),
		HandshakesComputing:     c.adm.computingN.Load(),
		HandshakesSuspended:     c.adm.suspendedN.Load(),
		HandshakesQueued:        c.adm.waitingN.Load(),
		HandshakesWaited:        c.adm.waitedN.Load(),
		HandshakesOK:            c.okN.Load(),
		HandshakesFailed:        c.failedN.Load(),
		HandshakesCanceled:      c.canceledN.Load(),
		HandshakesShedStalled:   c.adm.shedStalledN.Load(),
		HandshakesShedAddrShare: c.adm.shedAddrN.Load(),
		Resumed:                 c.resumedN.Load(),
		IdleCoroutines:          int64(c.idleCoroutineCount()),
		AbuseKeyUpdates:         c.abuseN[abuseKeyUpdate].Load(),
		AbuseEmptyRecords:       c.abuseN[abuseEmptyRecord].Load(),
		AbuseAlerts:             c.abuseN[abuseAlert].Load(),
		AbuseRenegotiations:     c.abuseN[abuseRenegotiation].Load(),
		HandshakesPenalized:     c.refusedPenaltyN.Load(),
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
	if cfg.MaxHandshakes < 0 || cfg.MaxSuspendedHandshakes < 0 || cfg.MaxSuspendedPerAddr < 0 {
		return nil, nil, errors.New("handshake bounds must not be negative")
	}
	t := &tls.Config{
		Certificates: []tls.Certificate{cfg.Certificate},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: slices.Clone(tls12Suites),
		ClientCAs:    cfg.ClientCAs,
	}
	if err := applySNI(t, cfg); err != nil {
		return nil, nil, err
	}
	chains, err := applyClientAuth(t, cfg)
	if err != nil {
		return nil, nil, err
	}
	return t, chains, nil
}

// configForClient picks the current policy for one handshake. For a client
// that offers TLS 1.3 it returns a per-connection copy carrying a key-log
// writer bound to that connection, which is how the engine learns the
// traffic secrets it needs to run the record layer itself afterwards.
func (c *Server) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	cur := c.cur.Load().tls
	t, ok := hello.Conn.(*transport)
	if !ok || !slices.Contains(hello.SupportedVersions, tls.VersionTLS13) {
		return cur, nil
	}
	per := cur.Clone()
	per.KeyLogWriter = &t.hs.keys
	return per, nil
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
