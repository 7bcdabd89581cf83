package eventloop

import (
	"crypto/tls"
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tlslpd/codec"
	"tlslpd/statemachine"
	"tlslpd/timerwheel"
	"tlslpd/tlsbridge"
)

// errStop ends a decode loop once the session has closed.
var errStop = errors.New("session closed")

// session is one connection: engine, codec, state machine and deadline.
type session struct {
	srv    *Server
	lp     *loop
	conn   gnet.Conn
	engine tlsbridge.Engine
	dec    codec.Decoder
	m      *statemachine.Machine
	timer  timerwheel.Timer[*session]
	peer   tlsbridge.Peer
	ip     netip.Addr

	prev, next *session // loop.sessions membership

	opened  time.Time
	stepAt  time.Time // when the request now awaited was sent
	workDur time.Duration
	last    statemachine.State // state before the event that ended it
	closing bool
	done    bool // record emitted
	// parkAfterFlush asks the engine to shed memory once WORK is sent.
	parkAfterFlush bool
}

func newSession(s *Server, lp *loop, c gnet.Conn, ip netip.Addr) *session {
	sess := &session{srv: s, lp: lp, conn: c, ip: ip, opened: time.Now()}
	lp.sessions.push(sess)
	sess.timer.Value = sess
	// The wake comes from another goroutine (a handshake slot came free);
	// Conn.Wake is gnet's concurrency-safe way back onto this connection's
	// loop, where OnTraffic feeds the engine.
	sess.engine = s.cfg.TLS.NewEngine(ip, func() { _ = c.Wake(nil) })
	lp.wheel.Arm(&sess.timer, sess.opened.Add(s.cfg.HandshakeTimeout))
	return sess
}

func (s *session) feed(ciphertext []byte) {
	if s.closing {
		return
	}
	// A Feed error leaves the engine Failed; pump reports it.
	_ = s.engine.Feed(ciphertext)
}

// pump moves everything that can move: handshake output, session start,
// decrypted lines through the state machine, and ciphertext to the socket.
func (s *session) pump() {
	if !s.closing {
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
	}
	s.flush()
}

// start runs once the handshake completes.
func (s *session) start() {
	srv := s.srv
	s.peer = s.engine.Peer()
	if srv.met != nil {
		srv.met.HandshakesOK.Inc()
	}
	if srv.cfg.Session.Tutorial && !srv.claimTutorial() {
		// The tutorial serves exactly one session; later ones are turned
		// away rather than left waiting for a server about to exit.
		if srv.met != nil {
			srv.met.Refused("tutorial_busy")
		}
		s.abort()
		return
	}
	token, err := srv.cfg.Session.SessionToken(srv.cfg.Entropy)
	if err != nil {
		srv.log.Error().Err(err).Msg("cannot draw a session token")
		s.abort()
		return
	}
	s.m = statemachine.New(&srv.cfg.Session, s.lp.rng, token)
	s.handle(statemachine.Event{Kind: statemachine.EventStart})
}

func (s *session) readPlaintext() {
	for !s.closing {
		n, err := s.engine.Read(s.lp.plain)
		if n > 0 {
			if derr := s.dec.Decode(s.lp.plain[:n], s.onLine); derr != nil && !errors.Is(derr, errStop) {
				s.handle(statemachine.Event{Kind: statemachine.EventReceiveError})
			}
		}
		switch {
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
	if s.closing {
		return errStop
	}
	return nil
}

// handle runs one event through the machine and carries out the action.
func (s *session) handle(ev statemachine.Event) {
	from := s.m.State()
	a := s.m.Handle(ev, s.lp.line[:0])
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
	if a.Send != nil {
		s.stepAt = now
		if err := s.engine.Write(a.Send); err != nil {
			s.srv.log.Debug().Err(err).Str("remote", s.remote()).Msg("TLS write failed")
		}
	}
	if a.Close {
		s.last = from
		s.end(a.Outcome)
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

// deadline is the timer wheel's callback, on this session's loop.
func (s *session) deadline() {
	if s.closing {
		return
	}
	if s.m == nil {
		if s.srv.met != nil {
			s.srv.met.HandshakesTimeout.Inc()
		}
		s.srv.log.Debug().Str("remote", s.remote()).Msg("TLS handshake timed out")
		s.abort()
	} else {
		s.handle(statemachine.Event{Kind: statemachine.EventDeadline})
	}
	s.flush()
	_ = s.conn.Close()
}

// engineEnded handles a TLS engine that failed or saw close_notify.
func (s *session) engineEnded() {
	err := s.engine.Err()
	if s.m == nil {
		if s.srv.met != nil {
			s.srv.met.HandshakesFailed.Inc()
		}
		s.srv.log.Debug().Err(err).Str("remote", s.remote()).Msg("TLS handshake failed")
		s.abort()
		return
	}
	kind := statemachine.EventTransportError
	if err == nil || errors.Is(err, tlsbridge.ErrClosed) || errors.Is(err, io.EOF) {
		kind = statemachine.EventPeerClosed
	}
	s.handle(statemachine.Event{Kind: kind})
	if !s.closing {
		s.abort()
	}
}

// end finishes a session that had a state machine: close_notify, record.
func (s *session) end(o statemachine.Outcome) {
	s.closing = true
	s.lp.wheel.Cancel(&s.timer)
	s.engine.Close()
	s.emit(o)
}

// abort closes a connection that never became (or stays) a session.
func (s *session) abort() {
	s.closing = true
	s.lp.wheel.Cancel(&s.timer)
	s.engine.Close()
}

func (s *session) flush() {
	out := s.engine.AppendOutgoing(s.lp.out[:0])
	if len(out) > 0 {
		_, _ = s.conn.Write(out) // gnet buffers what the socket does not take
	}
	s.lp.out = out[:0]
	if s.parkAfterFlush && !s.closing {
		s.parkAfterFlush = false
		s.engine.Park()
	}
	if limit := s.srv.cfg.MaxBufferedBytes; limit > 0 && !s.closing && s.conn.OutboundBuffered() > limit {
		// The peer is not reading; holding its bytes would let one client
		// grow our memory.
		if s.srv.met != nil {
			s.srv.met.Refused("buffer_limit")
		}
		if s.m != nil {
			s.handle(statemachine.Event{Kind: statemachine.EventTransportError})
		} else {
			s.abort()
		}
		_ = s.conn.Close()
	}
}

// shutdown ends the session because the server is stopping.
func (s *session) shutdown() {
	if s.closing {
		return
	}
	if s.m != nil {
		s.handle(statemachine.Event{Kind: statemachine.EventShutdown})
	} else {
		s.abort()
	}
	s.flush()
	_ = s.conn.Close()
}

// closed runs from OnClose: the socket is gone, free everything.
func (s *session) closed(err error) {
	if s.m != nil && !s.done {
		s.last = s.m.State()
		if s.m.State().Terminal() {
			s.emit(s.m.Outcome())
		} else {
			a := s.m.Handle(statemachine.Event{Kind: statemachine.EventPeerClosed}, nil)
			if s.srv.met != nil {
				s.srv.met.Transition(s.last, s.m.State())
			}
			s.emit(a.Outcome)
		}
	}
	s.closing = true
	s.lp.wheel.Cancel(&s.timer)
	s.lp.sessions.remove(s)
	s.engine.Release()
	s.engine = nil
}

// emit logs and hands out the session record, once.
func (s *session) emit(o statemachine.Outcome) {
	if s.done {
		return
	}
	s.done = true
	srv := s.srv
	if srv.met != nil {
		srv.met.Finished(o)
	}
	rec := Record{
		Remote:       s.remote(),
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
	if s.peer.Version != 0 {
		rec.TLSVersion = tls.VersionName(s.peer.Version)
	}
	srv.log.Info().EmbedObject(&rec).Msg("session finished")
	if srv.cfg.OnRecord != nil {
		srv.cfg.OnRecord(&rec)
	}
	if srv.cfg.Session.Tutorial {
		srv.tutorialDone()
	}
}

func (s *session) remote() string {
	if a := s.conn.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
