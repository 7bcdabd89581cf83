package eventloop

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"tlslpd/metrics"
	"tlslpd/statemachine"
	"tlslpd/timerwheel"
)

// Scratch sizes: one TLS record of plaintext, and room for a few records
// of ciphertext before the buffer grows.
const (
	plainScratch = 16 << 10
	outScratch   = 20 << 10
	lineScratch  = 1 << 10
)

// loop is the state one event loop owns. Only that loop's goroutine
// touches it (except tickPending, the ticker's handshake with the loop).
type loop struct {
	srv   *Server
	el    gnet.EventLoop
	wheel *timerwheel.Wheel[*session]
	rng   statemachine.Rand

	plain []byte // decrypted bytes, reused for every read
	out   []byte // ciphertext to write, reused for every flush
	line  []byte // the state machine's outgoing line

	sessions   sessionList    // every open session of this loop, for shutdown
	unanswered unansweredList // those not answered yet, oldest first

	shed shedder // whether OnOpen sheds new connections

	unansweredBudget int // bytes its unanswered connections may hold

	tickPending  atomic.Bool
	evictPending atomic.Bool       // another loop asked this one to make room
	tickQueued   atomic.Int64      // when the ticker queued the pending advance, Unix ns
	advance      gnet.RunnableFunc // made once: the tick allocates nothing per loop
	fire         func(*timerwheel.Timer[*session])
}

func newLoop(s *Server, el gnet.EventLoop) *loop {
	wheel, err := timerwheel.New[*session](s.tick, timerwheel.DefaultSlots, time.Now())
	if err != nil {
		panic(err) // tick is validated positive and DefaultSlots is valid
	}
	var rng statemachine.Rand
	if s.cfg.NewRand != nil {
		rng = s.cfg.NewRand()
	} else {
		var seed [16]byte
		_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails on Linux
		rng = mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	}
	lp := &loop{
		srv:   s,
		el:    el,
		wheel: wheel,
		rng:   rng,
		plain: make([]byte, plainScratch),
		out:   make([]byte, 0, outScratch),
		line:  make([]byte, 0, lineScratch),
		shed:  newShedder(s.shedTarget, time.Now()),
		// Each loop has its share: its connections are its own.
		unansweredBudget: max(1, s.cfg.MaxUnansweredBytes/s.cfg.Loops),
	}
	lp.fire = func(t *timerwheel.Timer[*session]) { t.Value.onDeadline() }
	lp.advance = func(context.Context) error {
		lp.tickPending.Store(false)
		now := time.Now()
		lp.shed.tick(now, now.Sub(time.Unix(0, lp.tickQueued.Load())))
		lp.wheel.Advance(now, lp.fire)
		return nil
	}
	return lp
}

// shutdownAll ends every session of this loop with the shutdown FAIL line
// (handshakes in flight are just closed), on the loop.
func (lp *loop) shutdownAll() {
	for s := lp.sessions.head; s != nil; {
		next := s.next // a failed write closes s at once, unlinking it
		s.onShutdown()
		s = next
	}
}

// sessionList is an intrusive doubly-linked list: membership costs two
// pointers in the session and no allocation.
type sessionList struct {
	head *session
}

func (l *sessionList) push(s *session) {
	s.next = l.head
	if l.head != nil {
		l.head.prev = s
	}
	l.head = s
}

func (l *sessionList) remove(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else if l.head == s {
		l.head = s.next
	} else {
		return // not linked
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
}

// unansweredList holds, oldest first, the connections this loop has not
// answered yet: no byte sent back, so no TLS handshake under way (silent
// peers, partial or trickled ClientHellos, and hellos queued for a
// handshake slot). At --max-conns the oldest of them gives its place to a
// newcomer (see Server.OnOpen).
type unansweredList struct {
	head, tail *session
	// bytes is what its connections have sent, all kept until they are
	// answered (a first record that is not complete yet, a hello queued
	// for a handshake slot); loop.unansweredBudget bounds it. holding
	// is those that sent any, oldest first: the ones trimmed.
	bytes              int
	holdHead, holdTail *session
	// oldest is head's accept time (Unix ns, 0: empty), for other loops
	// looking for a connection to displace.
	oldest atomic.Int64
}

func (l *unansweredList) pushBack(s *session) {
	s.unanswered = true
	s.uPrev, s.uNext = l.tail, nil
	if l.tail != nil {
		l.tail.uNext = s
	} else {
		l.head = s
		l.oldest.Store(s.opened.UnixNano())
	}
	l.tail = s
}

// hold counts n more bytes kept for s, an unanswered connection.
func (l *unansweredList) hold(s *session, n int) {
	if n == 0 {
		return
	}
	if s.held == 0 {
		s.hPrev, s.hNext = l.holdTail, nil
		if l.holdTail != nil {
			l.holdTail.hNext = s
		} else {
			l.holdHead = s
		}
		l.holdTail = s
	}
	s.held += n
	l.bytes += n
}

func (l *unansweredList) remove(s *session) {
	if !s.unanswered {
		return
	}
	s.unanswered = false
	if s.held > 0 {
		l.bytes -= s.held
		s.held = 0
		if s.hPrev != nil {
			s.hPrev.hNext = s.hNext
		} else {
			l.holdHead = s.hNext
		}
		if s.hNext != nil {
			s.hNext.hPrev = s.hPrev
		} else {
			l.holdTail = s.hPrev
		}
		s.hPrev, s.hNext = nil, nil
	}
	if s.uPrev != nil {
		s.uPrev.uNext = s.uNext
	} else {
		l.head = s.uNext
		if l.head != nil {
			l.oldest.Store(l.head.opened.UnixNano())
		} else {
			l.oldest.Store(0)
		}
	}
	if s.uNext != nil {
		s.uNext.uPrev = s.uPrev
	} else {
		l.tail = s.uPrev
	}
	s.uPrev, s.uNext = nil, nil
}

// unansweredGrace is how long a connection may stay unanswered before it
// can be made to give its place at --max-conns: a client's ClientHello
// follows its connect within a round trip.
const unansweredGrace = time.Second

// displaceable reports, from any goroutine, whether this loop holds a
// connection unanswered past unansweredGrace at now.
func (lp *loop) displaceable(now time.Time) bool {
	oldest := lp.unanswered.oldest.Load()
	return oldest != 0 && now.Sub(time.Unix(0, oldest)) >= unansweredGrace
}

// trimUnanswered ends this loop's oldest unanswered connections that sent
// anything while what they sent passes the loop's budget (one that sent
// nothing would free nothing): without it every connection
// could keep a first record of up to 16 KiB, all but its last byte, for
// the whole handshake deadline.
func (lp *loop) trimUnanswered() {
	for lp.unanswered.bytes > lp.unansweredBudget && lp.unanswered.holdHead != nil {
		oldest := lp.unanswered.holdHead
		lp.srv.notice(noticeShed, metrics.ShedUnansweredBytes, oldest.addr)
		oldest.finish(ending{handshake: metrics.HandshakeCanceled})
	}
}

// evictUnanswered ends this loop's oldest connection that has stayed
// unanswered past unansweredGrace, so that a newcomer takes its place at
// --max-conns; false when there is none.
func (lp *loop) evictUnanswered(now time.Time) bool {
	oldest := lp.unanswered.head
	if oldest == nil || now.Sub(oldest.opened) < unansweredGrace {
		return false
	}
	lp.srv.notice(noticeShed, metrics.ShedUnansweredAtCapacity, oldest.addr)
	oldest.finish(ending{handshake: metrics.HandshakeCanceled})
	return true
}
