package eventloop

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tlslpd/codec"
	"tlslpd/metrics"
	"tlslpd/statemachine"
	"tlslpd/timerwheel"
	"tlslpd/tlsbridge"
	"tlslpd/transport"
)

// errStop ends a decode loop once the session has ended.
var errStop = errors.New("session ended")

// session is one connection: engine, codec, state machine and deadline.
//
// Its life, all on its loop: newSession (accept) → onTraffic (bytes in,
// handshake, lines through the machine) and onDeadline/onShutdown (the
// wheel, the drain) → finish, the one place a connection ends → onClosed
// (gnet says the socket is gone) frees it.
type session struct {
	srv      *Server
	lp       *loop
	listener *listener
	conn     gnet.Conn
	engine   tlsbridge.Engine
	dec      codec.Decoder
	m        *statemachine.Machine // nil until the handshake completes
	timer    timerwheel.Timer[*session]
	peer     tlsbridge.Peer
	ip       netip.Addr     // the address counted against MaxConnsPerIP; zero until known
	addr     netip.AddrPort // the client's: from the socket, or a trusted PROXY header
	proxy    proxyStage

	prev, next *session // loop.sessions membership
	uPrev      *session // loop.unanswered membership
	uNext      *session
	unanswered bool
	held       int      // bytes received while unanswered (loop.unanswered.bytes)
	hPrev      *session // loop.unanswered's holding membership (held > 0)
	hNext      *session

	opened  time.Time
	stepAt  time.Time // when the request now awaited was sent
	workDur time.Duration
	last    statemachine.State // state before the event that ended it
	// ended is set by finish: the ending is counted (and a session's
	// record written), the engine closed and the socket's close queued.
	ended bool
	// socketGone: gnet closed the socket; nothing more can be sent.
	socketGone bool
	// parkAfterFlush asks the engine to shed memory once WORK is sent.
	parkAfterFlush bool
	// identityHeld: the session counts against its certificate's
	// --max-conns-per-identity until it ends.
	identityHeld bool
	// firstByteWait: the timer runs auto-detect's wait (transport.FirstByteWaiter),
	// not yet the handshake deadline.
	firstByteWait bool
}

func newSession(s *Server, lp *loop, c gnet.Conn, ip netip.Addr, l *listener) *session {
	sess := &session{srv: s, lp: lp, listener: l, conn: c, ip: ip, opened: time.Now()}
	lp.sessions.push(sess)
	lp.unanswered.pushBack(sess)
	sess.timer.Value = sess
	// The wake comes from another goroutine (a handshake slot came free);
	// Conn.Wake is gnet's concurrency-safe way back onto this connection's
	// loop, where OnTraffic feeds the engine.
	sess.engine = l.Engines.NewEngine(ip, func() { _ = c.Wake(nil) })
	if w, ok := sess.engine.(transport.FirstByteWaiter); ok && w.FirstByteWait() > 0 && w.FirstByteWait() < s.cfg.HandshakeTimeout {
		sess.firstByteWait = true
		lp.wheel.Arm(&sess.timer, sess.opened.Add(w.FirstByteWait()))
		return sess
	}
	lp.wheel.Arm(&sess.timer, sess.opened.Add(s.cfg.HandshakeTimeout))
	return sess
}

// An ending is why a connection ended. A session (one whose handshake
// completed and whose machine started) ends with its machine's outcome
// and leaves a record; a connection that never became a session ends with
// its handshake's result (a metrics.Handshake* value, "" when the
// handshake itself succeeded and was counted already).
type ending struct {
	outcome   statemachine.Outcome
	handshake string
	err       error // what the engine reported, for the log
}

// onTraffic takes the socket's bytes (none on a Wake) and moves everything
// that can move.
func (s *session) onTraffic(ciphertext []byte) {
	if s.ended {
		return
	}
	if s.unanswered {
		s.lp.unanswered.hold(s, len(ciphertext))
	}
	// Feed runs the handshake, even with no bytes (a Wake: a handshake
	// slot came free). A Feed error leaves the engine Failed; pump
	// reports it.
	_ = s.engine.Feed(ciphertext)
	s.pump()
	if s.lp.unanswered.bytes > s.lp.unansweredBudget {
		s.lp.trimUnanswered()
	}
}

// pump moves everything that can move: handshake output, session start,
// decrypted lines through the state machine, and ciphertext to the socket.
func (s *session) pump() {
	switch s.engine.State() {
	case tlsbridge.Handshaking:
	case tlsbridge.Established:
		if s.m == nil {
			s.start()
		}
		s.readPlaintext()
	default: // Failed or Closed
		s.engineEnded()
	}
	s.flush()
}

// start runs once the handshake completes.
func (s *session) start() {
	srv := s.srv
	s.peer = s.engine.Peer()
	s.lp.shed.handshakeDone(time.Since(s.opened))
	if srv.met != nil {
		name := s.transportName()
		if countsTLSHandshake(name) {
			srv.met.HandshakeEnded(metrics.HandshakeOK)
		}
		srv.met.TransportSession(name)
	}
	if srv.cfg.Session.Tutorial && !srv.claimTutorial() {
		// The tutorial serves exactly one session; later ones are turned
		// away rather than left waiting for a server about to exit.
		srv.notice(noticeRefused, metrics.RefusedTutorialBusy, s.addr)
		s.finish(ending{})
		return
	}
	if !s.acquireIdentity() {
		return
	}
	token, err := srv.cfg.Session.SessionToken(srv.cfg.Entropy)
	if err != nil {
		srv.log.Error().Err(err).Msg("cannot draw a session token")
		s.finish(ending{})
		return
	}
	s.m = statemachine.New(&srv.cfg.Session, s.lp.rng, token)
	if srv.cfg.Steps != nil {
		srv.cfg.Steps.Started(s.ip)
	}
	s.handle(statemachine.Event{Kind: statemachine.EventStart})
}

func (s *session) readPlaintext() {
	for !s.ended {
		n, err := s.engine.Read(s.lp.plain)
		if n > 0 {
			if derr := s.dec.Decode(s.lp.plain[:n], s.onLine); derr != nil && !errors.Is(derr, errStop) {
				s.handle(statemachine.Event{Kind: statemachine.EventReceiveError})
			}
		}
		switch {
		case s.ended:
		case err == nil && n == 0:
			return // nothing more buffered
		case errors.Is(err, io.EOF):
			s.handle(statemachine.Event{Kind: statemachine.EventPeerClosed})
		case err != nil:
			s.srv.log.Debug().Err(err).Str("remote", s.remote()).Msg("TLS record error")
			s.handle(statemachine.Event{Kind: statemachine.EventTransportError})
		}
	}
}

func (s *session) onLine(line []byte) error {
	s.handle(statemachine.Event{Kind: statemachine.EventLine, Line: line})
	if s.ended {
		return errStop
	}
	return nil
}

// handle runs one event through the machine and carries out the action.
func (s *session) handle(ev statemachine.Event) {
	from := s.m.State()
	a := s.m.Handle(ev, s.lp.line[:0])
	if s.srv.cfg.Steps != nil {
		s.srv.cfg.Steps.Step(s.m, ev, from, a.Send)
	}
	to := s.m.State()
	now := time.Now()
	if met := s.srv.met; met != nil {
		if ev.Kind == statemachine.EventLine && !from.Terminal() && from != statemachine.StateNew {
			met.StepLatency(from, now.Sub(s.stepAt).Seconds())
			if from == statemachine.StateWork {
				if a.Outcome == statemachine.OutcomeBadSuffix {
					met.PoWInvalid.Inc()
				} else {
					met.PoWValid.Inc()
				}
			}
		}
		if from != to {
			met.Transition(from, to)
		}
	}
	if from == statemachine.StateWork && to != statemachine.StateWork {
		s.workDur = now.Sub(s.stepAt)
	}
	if a.Send != nil && !s.socketGone {
		s.stepAt = now
		if err := s.engine.Write(a.Send); err != nil {
			s.srv.log.Debug().Err(err).Str("remote", s.remote()).Msg("TLS write failed")
		}
	}
	if a.Close {
		s.last = from
		s.finish(ending{outcome: a.Outcome})
		return
	}
	switch a.Deadline {
	case statemachine.DeadlineShort:
		s.lp.wheel.Arm(&s.timer, now.Add(s.srv.cfg.OtherTimeout))
	case statemachine.DeadlineWork:
		s.lp.wheel.Arm(&s.timer, now.Add(s.srv.cfg.WorkTimeout))
		// WORK is where sessions sit for minutes: let the engine drop what
		// it can rebuild (cipher state) until the suffix arrives.
		s.parkAfterFlush = true
	}
}

// interrupt ends the connection on something outside the protocol's
// lines: a session hears it as ev through its machine, which may send a
// FAIL line and decides the outcome; a handshake ends with hsResult.
func (s *session) interrupt(ev statemachine.EventKind, hsResult string, err error) {
	if s.ended {
		return
	}
	if s.m != nil {
		s.handle(statemachine.Event{Kind: ev}) // every such event ends the machine
		return
	}
	s.finish(ending{handshake: hsResult, err: err})
}

// onDeadline is the timer wheel's callback, on this session's loop.
func (s *session) onDeadline() {
	if s.firstByteWait {
		// Auto-detect's wait is over: a client that said nothing is a
		// plain one waiting for HELLO. The handshake deadline still
		// counts from the accept.
		s.firstByteWait = false
		s.engine.(transport.FirstByteWaiter).WaitOver()
		s.lp.wheel.Arm(&s.timer, s.opened.Add(s.srv.cfg.HandshakeTimeout))
		s.pump()
		return
	}
	s.interrupt(statemachine.EventDeadline, metrics.HandshakeTimeout, nil)
}

// onShutdown ends the session because the server is stopping.
func (s *session) onShutdown() {
	s.interrupt(statemachine.EventShutdown, metrics.HandshakeCanceled, nil)
}

// onClosed runs from gnet's OnClose: the socket is gone. A connection
// that had not ended yet was left by its peer; then everything is freed.
func (s *session) onClosed() {
	s.socketGone = true
	s.interrupt(statemachine.EventPeerClosed, metrics.HandshakeAbandoned, nil)
	s.lp.sessions.remove(s)
	s.lp.unanswered.remove(s)
	s.engine.Release()
	s.engine = nil
}

// engineEnded handles a TLS engine that failed or saw close_notify.
func (s *session) engineEnded() {
	err := s.engine.Err()
	kind := statemachine.EventTransportError
	if err == nil || errors.Is(err, tlsbridge.ErrClosed) || errors.Is(err, io.EOF) {
		kind = statemachine.EventPeerClosed
	}
	s.interrupt(kind, handshakeResult(err), err)
}

// handshakeResult names a failed handshake's error for metrics and logs.
func handshakeResult(err error) string {
	switch {
	case err == nil || errors.Is(err, tlsbridge.ErrClosed) || errors.Is(err, io.EOF):
		return metrics.HandshakeAbandoned
	case errors.Is(err, tlsbridge.ErrNotTLS):
		return metrics.HandshakeNotTLS
	case errors.Is(err, tlsbridge.ErrShed):
		// Ended to make room among handshakes waiting for their peers:
		// the server's doing, counted by tlsbridge's shed reasons.
		return metrics.HandshakeCanceled
	case isBadCertificate(err):
		return metrics.HandshakeBadCertificate
	}
	return metrics.HandshakeFailed
}

// isBadCertificate reports a client certificate that was missing or did
// not verify. crypto/tls has no sentinel for a missing one, hence the text.
func isBadCertificate(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &invalid) ||
		errors.Is(err, tlsbridge.ErrIdentityRefused) ||
		strings.Contains(err.Error(), "client didn't provide a certificate")
}

// finish is the one way a connection ends, whatever ended it; it acts
// once. It stops the deadline, counts the ending (a session's record, or
// its handshake's result), closes the engine (queueing close_notify or an
// alert), flushes that, and closes the socket.
func (s *session) finish(e ending) {
	if s.ended {
		return
	}
	s.ended = true
	s.lp.wheel.Cancel(&s.timer)
	s.lp.unanswered.remove(s)
	if s.identityHeld {
		s.identityHeld = false
		s.srv.cfg.Identities.Release(s.peer.Fingerprint)
	}
	if s.m != nil {
		s.record(e.outcome)
	} else if e.handshake != "" {
		name := s.transportName()
		if countsTLSHandshake(name) && !errors.Is(e.err, transportServedPage) {
			s.srv.notice(noticeHandshake, e.handshake, s.addr)
			if s.proxy != proxyAwait && !s.srv.draining.Load() && s.srv.rated(s.addr.Addr()) {
				s.srv.fails.spend(s.addr.Addr())
			}
		}
		s.srv.log.Debug().Err(e.err).Str("remote", s.remote()).Str("transport", name).Str("result", e.handshake).Msg("TLS handshake ended")
	}
	if s.socketGone {
		return
	}
	s.engine.Close()
	s.flush()
	// Conn.Close is queued on this loop; gnet writes what is buffered,
	// closes the socket and calls OnClose, which frees the session.
	_ = s.conn.Close()
}

// flush hands the engine's ciphertext to the socket and enforces the
// outbound buffer limit.
func (s *session) flush() {
	if s.socketGone {
		// A write that failed closed the socket at once, and OnClose
		// has freed the engine, under a caller that is still running.
		return
	}
	out := s.engine.AppendOutgoing(s.lp.out[:0])
	if len(out) > 0 {
		s.lp.unanswered.remove(s) // answered: a handshake is under way
		_, _ = s.conn.Write(out)  // gnet buffers what the socket does not take
	}
	s.lp.out = out[:0]
	if s.ended {
		return
	}
	if s.parkAfterFlush {
		s.parkAfterFlush = false
		s.engine.Park()
	}
	if limit := s.srv.cfg.MaxBufferedBytes; limit > 0 && s.conn.OutboundBuffered() > limit {
		// The peer is not reading; holding its bytes would let one client
		// grow our memory.
		s.srv.notice(noticeShed, metrics.ShedBufferLimit, s.addr)
		s.interrupt(statemachine.EventTransportError, metrics.HandshakeCanceled, nil)
	}
}

// record logs and hands out the session record; finish calls it once.
func (s *session) record(o statemachine.Outcome) {
	srv := s.srv
	if srv.met != nil {
		srv.met.Finished(o)
	}
	rec := Record{
		Remote:       s.remote(),
		Transport:    s.transportName(),
		Resumed:      s.peer.Resumed,
		Outcome:      o.String(),
		LastStep:     s.last.String(),
		FailLine:     s.m.FailLine(),
		Start:        s.opened,
		Duration:     time.Since(s.opened),
		WorkDuration: s.workDur,
		NBits:        srv.cfg.Session.NBits,
		Token:        s.m.Token(),
		Replies:      s.m.Replies(),
	}
	if s.peer.HasCert {
		rec.Subject = s.peer.Subject
		rec.Fingerprint = fingerprintHex(s.peer.Fingerprint)
	}
	rec.ServerName = s.peer.ServerName
	if s.peer.Version != 0 {
		rec.TLSVersion = tls.VersionName(s.peer.Version)
	}
	srv.log.Info().EmbedObject(&rec).Msg("session finished")
	if srv.cfg.Steps != nil {
		srv.cfg.Steps.Ended(s.m)
	}
	if srv.cfg.OnRecord != nil {
		srv.cfg.OnRecord(&rec)
	}
	if srv.cfg.Session.Tutorial {
		srv.tutorialDone()
	}
}

func (s *session) remote() string {
	if s.addr.IsValid() {
		return s.addr.String()
	}
	if a := s.conn.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
