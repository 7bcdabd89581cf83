package tlsbridge

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
)

// Why a suspended handshake was shed. Each has its counter in Stats and
// its error, wrapping ErrShed, in the engine.
const (
	notShed       int32 = iota
	shedStalled         // the suspended bound was reached and it had waited longest
	shedAddrShare       // its source address held more than its share of the bound
)

var (
	errShedStalled   = fmt.Errorf("%w: waited longest for its peer while the suspended handshakes were at their bound", ErrShed)
	errShedAddrShare = fmt.Errorf("%w: waited longest of its source address, which was over its share of suspended handshakes", ErrShed)
)

func shedErr(reason int32) error {
	if reason == shedAddrShare {
		return errShedAddrShare
	}
	return errShedStalled
}

// Defaults for Config's handshake bounds.
const (
	// defaultMaxSuspended bounds handshakes waiting for their peer's bytes.
	// Each holds its coroutine's stack and crypto/tls's handshake state
	// (BenchmarkSuspendedHandshake measures it; the README states the
	// resulting bound).
	defaultMaxSuspended = 2048
	// defaultAddrShareDiv: one source address may hold at most this
	// fraction of the suspended bound. Half: a load test from one address
	// has many handshakes waiting for slow clients at once (1000 at once
	// on a loaded machine went past an eighth), and the bound itself
	// still sheds the longest waiting of anyone.
	defaultAddrShareDiv = 2
)

// defaultMaxComputing: an owner computes one handshake at a time, so a cap
// of one per core never makes a handshake wait; a lower cap keeps cores
// for established sessions.
func defaultMaxComputing() int { return runtime.GOMAXPROCS(0) }

// admission is one handshake's place in its Server's admissions.
type admission struct {
	addr netip.Addr // the peer's source address as admissions key it
	wake func()

	// Written under admissions.mu; the owner reads them without it.
	granted atomic.Bool  // a CPU slot is ours
	shed    atomic.Int32 // why it was shed, or notShed

	// Guarded by admissions.mu.
	queued    bool // in admissions.waiting
	suspended bool // in admissions.suspended and its address's chain
	qLink     link // admissions.waiting
	sLink     link // admissions.suspended
	aLink     link // the address's chain
}

func (a *admission) shedReason() int32 { return a.shed.Load() }

// admissions decides which handshakes may compute and how many may wait
// for their peers.
//
// CPU: a handshake holds a slot only while crypto/tls computes, from the
// moment its owner starts or resumes it until it yields for bytes or ends;
// the slots cap handshakes computing at once, and the rest wait their turn
// in FIFO order, with their bytes already buffered.
//
// Memory: a handshake that yields for its peer's bytes holds no slot but
// keeps its coroutine and crypto/tls state; those suspended handshakes are
// bounded in number, overall and per source address. Past a bound the one
// that has waited longest without progress is shed, never the newcomer:
// its owner is woken and its next Feed ends it with ErrShed.
type admissions struct {
	mu           sync.Mutex
	maxComputing int
	computing    int
	waiting      chain // want a slot, FIFO
	maxSuspended int
	maxPerAddr   int
	suspended    chain // oldest suspension first
	perAddr      map[netip.Addr]*chain

	// Counters, written under mu, read by Stats without it.
	computingN, waitingN, suspendedN atomic.Int64
	waitedN, shedStalledN, shedAddrN atomic.Int64
}

func (q *admissions) init() {
	q.waiting.at = func(a *admission) *link { return &a.qLink }
	q.suspended.at = func(a *admission) *link { return &a.sLink }
	q.perAddr = map[netip.Addr]*chain{}
}

// setLimits applies cfg's bounds (at NewServer and Reload); slots it adds
// go to waiting handshakes at once.
func (q *admissions) setLimits(cfg Config) {
	var wake wakeList
	q.mu.Lock()
	q.maxComputing = cfg.MaxHandshakes
	if q.maxComputing == 0 {
		q.maxComputing = defaultMaxComputing()
	}
	q.maxSuspended = cfg.MaxSuspendedHandshakes
	if q.maxSuspended == 0 {
		q.maxSuspended = defaultMaxSuspended
	}
	q.maxPerAddr = cfg.MaxSuspendedPerAddr
	if q.maxPerAddr == 0 {
		q.maxPerAddr = max(1, q.maxSuspended/defaultAddrShareDiv)
	}
	q.admitLocked(&wake)
	q.mu.Unlock()
	wake.wake()
}

// acquire gives a a CPU slot and reports true, or queues a for one and
// reports false; a queued handshake's owner is woken once the slot is
// granted. It reports false for a shed handshake.
func (q *admissions) acquire(a *admission) bool {
	if a.granted.Load() {
		return true // granted while queued
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if a.shed.Load() != notShed || a.queued {
		return false
	}
	if q.waiting.head == nil && q.computing < q.maxComputing {
		q.grantLocked(a)
		return true
	}
	a.queued = true
	q.waiting.pushBack(a)
	q.waitingN.Store(int64(q.waiting.n))
	q.waitedN.Add(1)
	return false
}

// suspend gives a's slot back as its handshake yields for its peer's
// bytes, and counts it among the suspended ones, shedding the longest
// waiting if that crosses a bound.
func (q *admissions) suspend(a *admission) {
	var wake wakeList
	q.mu.Lock()
	q.releaseLocked(a)
	a.suspended = true
	q.suspended.pushBack(a)
	ac := q.perAddr[a.addr]
	if ac == nil {
		ac = &chain{at: func(a *admission) *link { return &a.aLink }}
		q.perAddr[a.addr] = ac
	}
	ac.pushBack(a)
	// a is the newest of both chains, so neither victim is a.
	if ac.n > q.maxPerAddr {
		wake.add(q.shedLocked(ac.head, shedAddrShare))
	}
	if q.suspended.n > q.maxSuspended {
		wake.add(q.shedLocked(q.suspended.head, shedStalled))
	}
	q.suspendedN.Store(int64(q.suspended.n))
	q.admitLocked(&wake)
	q.mu.Unlock()
	wake.wake()
}

// leave takes a out of every place it holds, its slot included, as its
// handshake ends for whatever reason.
func (q *admissions) leave(a *admission) {
	var wake wakeList
	q.mu.Lock()
	if a.suspended {
		q.unsuspendLocked(a)
	}
	if a.queued {
		a.queued = false
		q.waiting.remove(a)
		q.waitingN.Store(int64(q.waiting.n))
	}
	if a.granted.Load() {
		q.releaseLocked(a)
		q.admitLocked(&wake)
	}
	q.mu.Unlock()
	wake.wake()
}

func (q *admissions) grantLocked(a *admission) {
	q.computing++
	q.computingN.Store(int64(q.computing))
	a.granted.Store(true)
	if a.suspended {
		q.unsuspendLocked(a)
	}
}

func (q *admissions) releaseLocked(a *admission) {
	a.granted.Store(false)
	q.computing--
	q.computingN.Store(int64(q.computing))
}

// admitLocked grants free slots to waiting handshakes, FIFO; their owners
// are woken once mu is released.
func (q *admissions) admitLocked(wake *wakeList) {
	for q.waiting.head != nil && q.computing < q.maxComputing {
		a := q.waiting.head
		q.waiting.remove(a)
		a.queued = false
		q.grantLocked(a)
		wake.add(a)
	}
	q.waitingN.Store(int64(q.waiting.n))
}

func (q *admissions) unsuspendLocked(a *admission) {
	a.suspended = false
	q.suspended.remove(a)
	q.suspendedN.Store(int64(q.suspended.n))
	ac := q.perAddr[a.addr]
	ac.remove(a)
	if ac.n == 0 {
		delete(q.perAddr, a.addr) // an address that left costs nothing
	}
}

// shedLocked takes the suspended handshake a out of every place and marks
// it shed; its owner, once woken, ends it.
func (q *admissions) shedLocked(a *admission, reason int32) *admission {
	q.unsuspendLocked(a)
	if a.queued {
		a.queued = false
		q.waiting.remove(a)
	}
	a.shed.Store(reason)
	if reason == shedAddrShare {
		q.shedAddrN.Add(1)
	} else {
		q.shedStalledN.Add(1)
	}
	return a
}

// AddrKey is the key of a source address's share, here and wherever else
// a limit is kept per source address: the address itself for IPv4, its
// /64 for IPv6, where one host commonly holds a whole /64.
func AddrKey(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}

// wakeList collects owners to wake once admissions.mu is released; a few
// fit without allocating.
type wakeList struct {
	buf [4]*admission
	n   int
	all []*admission
}

func (w *wakeList) add(a *admission) {
	if w.n < len(w.buf) {
		w.buf[w.n] = a
		w.n++
		return
	}
	w.all = append(w.all, a)
}

func (w *wakeList) wake() {
	for _, a := range w.buf[:w.n] {
		a.wake()
	}
	for _, a := range w.all {
		a.wake()
	}
}

// link and chain make an intrusive doubly linked list of admissions; at
// picks which of an admission's links a chain uses.
type link struct{ prev, next *admission }

type chain struct {
	head, tail *admission
	n          int
	at         func(*admission) *link
}

func (c *chain) pushBack(a *admission) {
	l := c.at(a)
	l.prev, l.next = c.tail, nil
	if c.tail != nil {
		c.at(c.tail).next = a
	} else {
		c.head = a
	}
	c.tail = a
	c.n++
}

func (c *chain) remove(a *admission) {
	l := c.at(a)
	if l.prev != nil {
		c.at(l.prev).next = l.next
	} else {
		c.head = l.next
	}
	if l.next != nil {
		c.at(l.next).prev = l.prev
	} else {
		c.tail = l.prev
	}
	*l = link{}
	c.n--
}
