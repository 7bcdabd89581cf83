package eventloop

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	mrand "math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

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

	sessions sessionList // every open session of this loop, for shutdown

	shed shedder // whether OnOpen sheds new connections

	tickPending atomic.Bool
	tickQueued  atomic.Int64      // when the ticker queued the pending advance, Unix ns
	advance     gnet.RunnableFunc // made once: the tick allocates nothing per loop
	fire        func(*timerwheel.Timer[*session])
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
