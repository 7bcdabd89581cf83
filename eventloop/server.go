package eventloop

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"tlslpd/identity"
	"tlslpd/metrics"
	"tlslpd/statemachine"
	"tlslpd/timerwheel"
	"tlslpd/tlsbridge"
)

// UnansweredBytesPerConn is Config.MaxUnansweredBytes's default per
// --max-conns connection: more than a ClientHello with a resumption
// ticket and a client certificate in it (about 2.5 KiB), so honest hellos
// never reach the budget even when every connection has one queued for
// the CPU, but a quarter of a 16 KiB first record held a byte short.
const UnansweredBytesPerConn = 4 << 10

// ErrConfig is wrapped by configuration errors from New.
var ErrConfig = errors.New("invalid server configuration")

// ErrEngineEnded is Serve's error when gnet stops serving by itself, before
// any shutdown was asked for (an event loop gave up; gnet's log says why).
var ErrEngineEnded = errors.New("the event loops stopped on their own")

// EngineFactory makes one TLS engine per connection (*tlsbridge.Server),
// for the connection's source address.
type EngineFactory interface {
	NewEngine(addr netip.Addr, wake func()) tlsbridge.Engine
}

// Config is everything a Server needs; it flows in explicitly.
type Config struct {
	Addrs   []string      // gnet addresses, e.g. "tcp://127.0.0.1:1234", serving TLS with Engines
	Loops   int           // event loops; 0 means DefaultLoops()
	Engines EngineFactory // one TLS engine per connection
	// Listeners, when set, replace Addrs: each address with its transport
	// and engine factory (see listener.go).
	Listeners        []Listener
	Session          statemachine.Config
	WorkTimeout      time.Duration
	OtherTimeout     time.Duration
	HandshakeTimeout time.Duration
	MaxConns         int
	// MaxConnsPerIP caps connections from one source address; 0 = no cap.
	MaxConnsPerIP int
	// FailedHandshakesPerIP rates the TLS handshakes from one source
	// address that end without completing, per second, after a burst of
	// FailedHandshakeBurst seconds' worth; past it the address's new
	// connections are refused at accept (see failBudget). 0: no rate.
	FailedHandshakesPerIP float64
	// MaxUnansweredBytes bounds what connections not answered yet (no
	// handshake under way: a first record still incomplete, a hello
	// queued for a handshake slot) may have sent, all together; past it
	// the oldest of them is shed. 0 means MaxConns*UnansweredBytesPerConn.
	MaxUnansweredBytes int
	// MaxBufferedBytes caps ciphertext waiting in a connection's outbound
	// buffer (a peer that does not read); 0 = no cap.
	MaxBufferedBytes int
	// ShedDelay is the handshake wait past which new connections are shed
	// at accept (closed at once, counted as overload) until the handshakes
	// already accepted catch up: a client learns at once instead of timing
	// out in a queue. 0 means HandshakeTimeout/10: the wait is observed
	// as handshakes complete, so the queue can grow to a few times it
	// before shedding takes hold, and must stay inside the deadline and
	// a client's patience. Negative: never shed.
	ShedDelay time.Duration
	// NoticeInterval is how often refusals, sheds and failed handshakes
	// are summed up in the log, one line per reason; 0 means
	// DefaultNoticeInterval, negative: never (metrics still count them).
	NoticeInterval time.Duration
	// DrainTimeout is how long Run lets sessions in flight finish after
	// its context ends, before sending them the shutdown FAIL line.
	DrainTimeout time.Duration
	// ReusePort lets other processes listen on the same ports. Without it
	// Run refuses ports another socket already listens on.
	ReusePort bool
	Tick      time.Duration // timer wheel tick; 0 means timerwheel.DefaultTick
	Logger    zerolog.Logger
	Metrics   *metrics.Metrics // nil: no metrics
	Entropy   io.Reader        // session tokens; nil means crypto/rand
	// NewRand, if set, makes each loop's body-draw source (tests script
	// draws with it); nil means a PCG seeded from crypto/rand.
	NewRand func() statemachine.Rand
	// ProxyFrom are the sources (load balancers) whose connections open
	// with a PROXY protocol header naming the client; empty: off. Other
	// sources are served directly, and a header from them is refused.
	ProxyFrom []netip.Prefix
	// OnRecord, if set, receives every finished session on its loop. It
	// must not block the loop.
	OnRecord func(*Record)
	// Steps, if set, sees every session's protocol steps on its loop
	// (the reference log mode); it must not block.
	Steps StepObserver
	// Identities, if set, caps each client certificate's concurrent
	// sessions (--max-conns-per-identity); see identity.go.
	Identities *identity.Rules
}

func (c *Config) validate() error {
	switch {
	case len(c.Addrs) == 0 && len(c.Listeners) == 0:
		return fmt.Errorf("%w: no listen address", ErrConfig)
	case c.Engines == nil && len(c.Listeners) == 0:
		return fmt.Errorf("%w: no TLS engine factory", ErrConfig)
	case c.WorkTimeout <= 0 || c.OtherTimeout <= 0 || c.HandshakeTimeout <= 0:
		return fmt.Errorf("%w: timeouts must be positive", ErrConfig)
	case c.MaxConns <= 0:
		return fmt.Errorf("%w: MaxConns must be positive", ErrConfig)
	case c.Loops < 0:
		return fmt.Errorf("%w: Loops must not be negative", ErrConfig)
	case c.MaxConnsPerIP < 0 || c.MaxBufferedBytes < 0 || c.DrainTimeout < 0 || c.FailedHandshakesPerIP < 0 || c.MaxUnansweredBytes < 0:
		return fmt.Errorf("%w: limits must not be negative", ErrConfig)
	}
	for _, l := range c.Listeners {
		if l.Engines == nil && c.Engines == nil {
			return fmt.Errorf("%w: listener %s has no engine factory", ErrConfig, l.Addr)
		}
	}
	if err := c.Session.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// DefaultLoops is one loop per P (GOMAXPROCS, which Go derives from the
// cores or the container's CPU limit). All of a session's work, the TLS
// handshake's crypto included, runs on its loop, so a core without a loop
// is capacity left idle. A loop more costs some CPU per session on a
// small machine (fewer events per epoll_wait wake-up, and the runtime
// retaking a P parked in epoll_wait when no other P is idle); README's
// operations section has the measurements and what was tried.
func DefaultLoops() int { return max(1, runtime.GOMAXPROCS(0)) }

// Server runs the gnet engine. Create with New, start with Run.
type Server struct {
	gnet.BuiltinEventEngine

	cfg        Config
	listeners  []*listener
	tick       time.Duration
	shedTarget time.Duration // ShedDelay resolved; 0: never shed
	log        zerolog.Logger
	met        *metrics.Metrics
	conns      atomic.Int64
	draining   atomic.Bool
	notices    notices
	burst      burstReturn // the ticker's: memory back after a burst

	ipMu  sync.Mutex
	perIP map[netip.Addr]int32
	// perIPPeak is perIP's largest size since it was last rebuilt: a Go
	// map keeps the buckets it grew to, so once the addresses fall to a
	// quarter of a large peak the map is copied into a small one.
	perIPPeak int
	fails     *failBudget // FailedHandshakesPerIP

	mu        sync.Mutex
	loops     map[gnet.EventLoop]*loop
	engine    gnet.Engine
	gnetAddrs []string // cfg.Addrs as bound (see claimAddrs)
	addrs     []net.Addr
	ready     chan struct{}
	booted    chan struct{}   // closed by OnBoot; ready follows once Run has seen the listeners
	ownLns    map[uint64]bool // our listening sockets' inodes, with ReusePort (see detachListeners)
	finished  chan struct{}   // closed when the tutorial session ended
	finish    sync.Once
	tutorial  atomic.Bool // the one tutorial session is taken
}

// New validates cfg and prepares a server.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Loops == 0 {
		cfg.Loops = DefaultLoops()
	}
	if cfg.MaxUnansweredBytes == 0 {
		cfg.MaxUnansweredBytes = cfg.MaxConns * UnansweredBytesPerConn
	}
	if cfg.Entropy == nil {
		cfg.Entropy = rand.Reader
	}
	tick := cfg.Tick
	if tick <= 0 {
		tick = timerwheel.DefaultTick
	}
	shedTarget := cfg.ShedDelay
	switch {
	case shedTarget == 0:
		shedTarget = cfg.HandshakeTimeout / 10
	case shedTarget < 0:
		shedTarget = 0
	}
	return &Server{
		cfg:        cfg,
		listeners:  listenersOf(&cfg),
		tick:       tick,
		shedTarget: shedTarget,
		log:        cfg.Logger,
		met:        cfg.Metrics,
		loops:      map[gnet.EventLoop]*loop{},
		perIP:      map[netip.Addr]int32{},
		fails:      newFailBudget(cfg.FailedHandshakesPerIP),
		ready:      make(chan struct{}),
		booted:     make(chan struct{}),
		finished:   make(chan struct{}),
	}, nil
}

// Ready is closed once the listeners are bound.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs are the bound listen addresses (valid after Ready).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Addr(nil), s.addrs...)
}

// Run serves until ctx is cancelled or, in tutorial mode, the one session
// ends; then it stops the engine and returns.
func (s *Server) Run(ctx context.Context) error {
	want := make([]string, len(s.listeners))
	for i, l := range s.listeners {
		want[i] = l.Addr
	}
	addrs, err := claimAddrs(want, s.cfg.ReusePort)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.gnetAddrs = addrs
	s.mu.Unlock()
	opts := []gnet.Option{
		gnet.WithMulticore(true),
		gnet.WithNumEventLoop(s.cfg.Loops),
		// Every loop gets its own SO_REUSEPORT listener and accepts for
		// itself. Without it gnet accepts on one more goroutine and hands
		// each connection to a loop through an eventfd: a cross-thread
		// wake-up per connection, measurable in CPU per session.
		// claimAddrs keeps the port ours unless cfg.ReusePort says
		// sharing it is wanted.
		gnet.WithReusePort(true),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.log}),
	}
	var lnAddrs map[string]bool
	var before map[uint64]bool
	if s.cfg.ReusePort {
		lnAddrs = hostPorts(addrs)
		before = listenerInodes(lnAddrs)
	}
	errc := make(chan error, 1)
	go func() { errc <- gnet.Rotate(s, addrs, opts...) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", strings.Join(addrs, ", "), err)
	case <-s.booted:
	}
	if s.cfg.ReusePort {
		s.ownLns = ownListeners(lnAddrs, before, s.cfg.Loops*len(addrs))
	}
	close(s.ready)
	tickCtx, stopTick := context.WithCancel(context.Background())
	tickDone := make(chan struct{})
	go func() { defer close(tickDone); s.runTicker(tickCtx) }()

	select {
	case <-ctx.Done():
	case <-s.finished:
	case err := <-errc:
		stopTick()
		<-tickDone
		if err == nil {
			err = ErrEngineEnded
		}
		return fmt.Errorf("serve: %w", err)
	}
	s.drain(ctx.Err() != nil)
	stopTick()
	<-tickDone
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.engine.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop engine: %w", err)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// claimAddrs turns gnet addresses into ones every loop can bind with
// SO_REUSEPORT: port 0 becomes one concrete free port (each loop binding
// ":0" would get a port of its own), and unless shared is set, a port that
// another socket listens on is an error, as it would be for a listener
// without SO_REUSEPORT.
func claimAddrs(addrs []string, shared bool) ([]string, error) {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		network, hostPort, ok := strings.Cut(a, "://")
		if !ok || !strings.HasPrefix(network, "tcp") {
			return nil, fmt.Errorf("%w: listen address %q: want tcp://host:port", ErrConfig, a)
		}
		host, port, err := net.SplitHostPort(hostPort)
		if err != nil {
			return nil, fmt.Errorf("%w: listen address %q: %w", ErrConfig, a, err)
		}
		if shared && port != "0" {
			out = append(out, a)
			continue
		}
		bound, err := probeListen(hostPort)
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err) // the error names the address
		}
		out = append(out, network+"://"+net.JoinHostPort(host, strconv.Itoa(bound)))
	}
	return out, nil
}

// probeListen listens on hostPort without SO_REUSEPORT (as the daemon
// would without sharing), returns the bound port and closes the listener.
// A listening socket leaves no TIME_WAIT behind, so the port is free for
// the loops right after.
func probeListen(hostPort string) (int, error) {
	tcp, err := net.ResolveTCPAddr("tcp", hostPort)
	if err != nil {
		return 0, err
	}
	// The same family choice as gnet's: no host is dual-stack, an IPv6
	// host is IPv6-only.
	network := "tcp"
	switch {
	case tcp.IP.To4() != nil:
		network = "tcp4"
	case tcp.IP != nil:
		network = "tcp6"
	}
	ln, err := net.ListenTCP(network, tcp)
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		return 0, err
	}
	return port, nil
}

// drain refuses new connections, lets sessions in flight finish for
// DrainTimeout, then ends the rest with the shutdown FAIL line, so every
// session leaves a record before the engine stops. Without a signal (the
// tutorial ended) there is nothing to wait for.
func (s *Server) drain(signalled bool) {
	s.draining.Store(true)
	if s.cfg.ReusePort {
		// Another process may share the port: let it take every new
		// connection while the sessions here finish.
		n, err := s.detachListeners()
		if err != nil {
			s.log.Warn().Err(err).Msg("draining: not every listener could be detached")
		}
		s.log.Debug().Int("listeners", n).Msg("draining: listeners detached")
	}
	if signalled && s.cfg.DrainTimeout > 0 && s.conns.Load() > 0 {
		s.log.Info().Int64("connections_open", s.conns.Load()).Stringer("drain_timeout", s.cfg.DrainTimeout).Msg("draining")
		s.waitConns(s.cfg.DrainTimeout)
	}
	if n := s.conns.Load(); n > 0 {
		s.log.Info().Int64("connections_open", n).Msg("ending sessions still in flight")
		for _, lp := range s.loopList() {
			_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				lp.shutdownAll()
				return nil
			}))
		}
		s.waitConns(5 * time.Second)
	}
}

// waitConns polls until no connection is open or d passes.
func (s *Server) waitConns(d time.Duration) {
	deadline := time.Now().Add(d)
	for s.conns.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) loopList() []*loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*loop, 0, len(s.loops))
	for _, lp := range s.loops {
		out = append(out, lp)
	}
	return out
}

// OnBoot records the bound addresses (port 0 becomes the real port).
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.engine = eng
	for i, a := range s.gnetAddrs {
		network, addr, _ := strings.Cut(a, "://")
		fd, err := eng.DupListener(network, addr)
		if err != nil {
			s.log.Error().Err(err).Str("addr", a).Msg("cannot inspect listener")
			continue
		}
		if sa, err := unix.Getsockname(fd); err == nil {
			a := sockaddrToTCP(sa)
			s.addrs = append(s.addrs, a)
			if t, ok := a.(*net.TCPAddr); ok {
				s.listeners[i].bound = t.AddrPort()
			}
		}
		unix.Close(fd)
	}
	close(s.booted)
	return gnet.None
}

func sockaddrToTCP(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return nil
}

// loopFor returns the per-loop state, creating it on the loop's first
// connection (gnet does not enumerate its loops for us).
func (s *Server) loopFor(el gnet.EventLoop) *loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lp := s.loops[el]; lp != nil {
		return lp
	}
	lp := newLoop(s, el)
	s.loops[el] = lp
	return lp
}

// runTicker advances every loop's wheel on its own loop, once a tick: one
// goroutine for the whole process, not one timer per connection.
func (s *Server) runTicker(ctx context.Context) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	every := s.cfg.NoticeInterval
	if every == 0 {
		every = DefaultNoticeInterval
	}
	lastReport := time.Now()
	report := func(now time.Time) {
		if every > 0 {
			s.notices.report(s.log, now.Sub(lastReport))
		}
		lastReport = now
	}
	defer func() { report(time.Now()) }() // what the last interval saw is not lost
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
		if every > 0 && now.Sub(lastReport) >= every {
			report(now)
		}
		if peak, settled := s.burst.observe(s.conns.Load(), now); peak > 0 && !settled {
			s.log.Info().Int64("peak_connections", peak).Int64("connections_open", s.conns.Load()).Msg("burst drained: returning memory to the OS")
		} else if settled {
			s.log.Debug().Int64("peak_connections", peak).Int64("connections_open", s.conns.Load()).Msg("burst settled: returning what was freed since")
		}
		for _, lp := range s.loopList() {
			if lp.tickPending.CompareAndSwap(false, true) {
				// A loop busy enough to miss a tick gets one queued
				// advance, not a growing backlog.
				lp.tickQueued.Store(time.Now().UnixNano())
				_ = lp.el.Execute(ctx, lp.advance)
			}
		}
	}
}

// OnOpen admits or refuses a connection and starts its handshake deadline.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	addr := remoteAddrPort(c)
	if s.draining.Load() {
		return s.refuse(noticeRefused, metrics.RefusedDraining, addr)
	}
	lp := s.loopFor(c.EventLoop())
	if lp.shed.shedding {
		// Closing now costs an accept and a close; admitting would cost a
		// handshake that completes too late, or never, for its client.
		return s.refuse(noticeShed, metrics.ShedOverload, addr)
	}
	ip, stage := addr.Addr(), s.proxyStageFor(addr.Addr())
	if stage != proxyAwait && !s.fails.admits(ip) {
		// Its handshakes keep failing: refused before any of its bytes
		// cost a first flight (a balancer's own address is never rated).
		return s.refuse(noticeRefused, metrics.RefusedFailedHandshakes, addr)
	}
	if s.conns.Add(1) > int64(s.cfg.MaxConns) && !s.makeRoom(lp, time.Now()) {
		// At the cap, a connection that has sent nothing worth answering
		// gives its place (its close is queued, so for a moment the count
		// is one over); only without one is the newcomer refused, so
		// peers that connect and stay silent cannot lock others out.
		s.conns.Add(-1)
		return s.refuse(noticeRefused, metrics.RefusedMaxConns, addr)
	}
	if stage == proxyAwait {
		ip = netip.Addr{} // counted once the header names the client
	} else if !s.admitIP(ip) {
		s.conns.Add(-1)
		return s.refuse(noticeRefused, metrics.RefusedMaxConnsPerIP, addr)
	}
	l := s.listenerFor(c)
	if s.met != nil {
		s.met.ConnectionsAccepted.Inc()
		s.met.ConnectionsOpen.Inc()
		s.met.TransportAccepted(l.Transport)
	}
	sess := newSession(s, lp, c, ip, l)
	sess.addr = addr
	c.SetContext(sess)
	if !s.enterProxyStage(sess, stage) {
		sess.startEarly()
	}
	return nil, gnet.None
}

// makeRoom, at --max-conns, closes the oldest connection not answered
// yet: this loop's at once, or else another loop's, which that loop closes
// as soon as it gets to it (the count is one over until then; one request
// per loop at a time bounds that).
func (s *Server) makeRoom(lp *loop, now time.Time) bool {
	if lp.evictUnanswered(now) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, other := range s.loops {
		if other == lp || !other.displaceable(now) || !other.evictPending.CompareAndSwap(false, true) {
			continue
		}
		err := other.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			other.evictPending.Store(false)
			other.evictUnanswered(time.Now())
			return nil
		}))
		if err != nil {
			other.evictPending.Store(false)
			continue
		}
		return true
	}
	return false
}

// refuse closes a connection at once; it never became a session.
func (s *Server) refuse(kind noticeKind, reason string, from netip.AddrPort) ([]byte, gnet.Action) {
	s.notice(kind, reason, from)
	return nil, gnet.Close
}

// admitIP counts a connection against its source address's cap.
func (s *Server) admitIP(ip netip.Addr) bool {
	if s.cfg.MaxConnsPerIP <= 0 || !ip.IsValid() {
		return true
	}
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	if s.perIP[ip] >= int32(s.cfg.MaxConnsPerIP) {
		return false
	}
	s.perIP[ip]++
	s.perIPPeak = max(s.perIPPeak, len(s.perIP))
	return true
}

func (s *Server) releaseIP(ip netip.Addr) {
	if s.cfg.MaxConnsPerIP <= 0 || !ip.IsValid() {
		return
	}
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	if n := s.perIP[ip] - 1; n > 0 {
		s.perIP[ip] = n
	} else {
		delete(s.perIP, ip) // an address that left costs nothing
		if s.perIPPeak >= perIPShrinkFloor && len(s.perIP) <= s.perIPPeak/4 {
			small := make(map[netip.Addr]int32, len(s.perIP))
			for k, v := range s.perIP {
				small[k] = v
			}
			s.perIP, s.perIPPeak = small, len(small)
		}
	}
}

// perIPShrinkFloor: below this peak the map's buckets are not worth a copy.
const perIPShrinkFloor = 1024

// OnTraffic feeds the socket's bytes to the session (also called on Wake).
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	sess, ok := c.Context().(*session)
	if !ok {
		return gnet.Close
	}
	if sess.proxy != proxyNone && !s.proxyPreamble(c, sess) {
		return gnet.None // waiting for the header, or refused (close queued)
	}
	// On a Wake nothing may be buffered; feeding nothing still lets the
	// engine start a handshake whose slot just came free.
	buf, _ := c.Next(-1)
	sess.onTraffic(buf)
	return gnet.None // a session that ended has queued its own close
}

// OnClose ends the session: a peer that left mid-session is recorded as such.
func (s *Server) OnClose(c gnet.Conn, _ error) gnet.Action {
	sess, ok := c.Context().(*session)
	if !ok {
		return gnet.None // refused in OnOpen: never counted
	}
	c.SetContext(nil)
	sess.onClosed()
	s.releaseIP(sess.ip)
	s.conns.Add(-1)
	if s.met != nil {
		s.met.ConnectionsOpen.Dec()
	}
	return gnet.None
}

// claimTutorial lets exactly one established session be the tutorial.
func (s *Server) claimTutorial() bool { return s.tutorial.CompareAndSwap(false, true) }

// tutorialDone makes Run return.
func (s *Server) tutorialDone() { s.finish.Do(func() { close(s.finished) }) }

// gnetLogger routes gnet's own logging through zerolog.
type gnetLogger struct{ l zerolog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug().Str("component", "gnet").Msgf(f, a...) }
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug().Str("component", "gnet").Msgf(f, a...) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn().Str("component", "gnet").Msgf(f, a...) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error().Str("component", "gnet").Msgf(f, a...) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error().Str("component", "gnet").Msgf(f, a...) }
