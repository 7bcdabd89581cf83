package timerwheel

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// DefaultTick is the wheel resolution. Deadlines in this daemon are seconds
// to minutes long, so 100 ms lateness is invisible to peers, while ten
// Advance calls per second per loop cost next to nothing.
const DefaultTick = 100 * time.Millisecond

// DefaultSlots makes one revolution 54.6 min at DefaultTick, longer than the
// longest deadline (30 min WORK), so a slot visit only walks timers that are
// due instead of also passing over timers of later rounds; with a million
// WORK timers per loop that cut one tick's Advance several-fold against 4096
// slots. The price is 256 KiB of slot heads per loop, of which a tick
// touches one.
const DefaultSlots = 32768

// MaxSlots bounds the slot count so slot indexes fit the int32 stored in
// every Timer, keeping the per-session overhead small.
const MaxSlots = 1 << 30

// Errors returned by New; the returned error wraps one of these.
var (
	ErrInvalidTick  = errors.New("timerwheel: tick must be > 0")
	ErrInvalidSlots = errors.New("timerwheel: slots must be a power of two in [1, MaxSlots]")
)

// Timer is an intrusive timer node: embed it in the session struct and put
// whatever the fire callback needs (typically the session pointer) in Value.
// The zero value is a disarmed timer. A Timer must not be copied while armed,
// because the wheel links to its address.
type Timer[T any] struct {
	Value T

	prev, next *Timer[T]
	// owner is the wheel the timer is armed in, nil when disarmed; it doubles
	// as the armed flag and lets the wheel reject foreign timers instead of
	// corrupting its lists.
	owner   *Wheel[T]
	expires int64 // absolute tick at whose end the timer is due
	list    int32 // index into Wheel.heads
}

// Armed reports whether the timer is waiting to fire.
func (t *Timer[T]) Armed() bool { return t.owner != nil }

// Wheel is a hashed timer wheel. It is not safe for concurrent use: it
// belongs to one event loop.
type Wheel[T any] struct {
	tick  time.Duration
	start time.Time
	mask  int64
	// heads[0:slots] are the slot lists; heads[slots] is the due list for
	// timers armed with a deadline the wheel has already passed, so they
	// fire at the next Advance without waiting for a tick boundary and
	// without a full scan of the current slot.
	heads []*Timer[T]
	due   int32
	cur   int64 // last tick processed
	count int
	// cursor is the next node Advance will visit. unlink moves it on when
	// it removes that node, which is what lets the fire callback cancel or
	// re-arm any timer, including neighbours in the list being walked.
	cursor    *Timer[T]
	advancing bool
}

// New returns a wheel with the given resolution and slot count whose tick
// 0 ends at start. slots must be a power of two so a slot is a mask away
// from its tick.
func New[T any](tick time.Duration, slots int, start time.Time) (*Wheel[T], error) {
	if tick <= 0 {
		return nil, fmt.Errorf("new wheel with tick %v: %w", tick, ErrInvalidTick)
	}
	if slots <= 0 || slots > MaxSlots || slots&(slots-1) != 0 {
		return nil, fmt.Errorf("new wheel with %d slots: %w", slots, ErrInvalidSlots)
	}
	return &Wheel[T]{
		tick:  tick,
		start: start,
		mask:  int64(slots - 1),
		heads: make([]*Timer[T], slots+1),
		due:   int32(slots),
	}, nil
}

// Tick returns the wheel resolution, the period at which Advance should be
// called.
func (w *Wheel[T]) Tick() time.Duration { return w.tick }

// Len returns the number of armed timers.
func (w *Wheel[T]) Len() int { return w.count }

// Arm schedules t to fire at the first Advance whose now reaches deadline
// rounded up to the tick. An armed timer is moved (reset). It panics if t is
// armed in another wheel, since that is a bug that would corrupt both wheels.
func (w *Wheel[T]) Arm(t *Timer[T], deadline time.Time) {
	if t.owner != nil {
		w.own(t)
		w.unlink(t)
	}
	e := w.tickOf(deadline)
	list := w.due
	if e > w.cur {
		list = int32(e & w.mask)
	}
	t.expires = e
	t.list = list
	t.owner = w
	t.prev = nil
	t.next = w.heads[list]
	if t.next != nil {
		t.next.prev = t
	}
	w.heads[list] = t
	w.count++
}

// Cancel disarms t and reports whether it was armed. Cancelling a disarmed
// timer is a no-op. It panics if t is armed in another wheel.
func (w *Wheel[T]) Cancel(t *Timer[T]) bool {
	if t.owner == nil {
		return false
	}
	w.own(t)
	w.unlink(t)
	return true
}

// Advance moves the wheel to now and calls fire for each timer that is due,
// after disarming it, so fire may re-arm or cancel it or any other timer of
// this wheel. It returns how many timers fired. fire must not call Advance.
func (w *Wheel[T]) Advance(now time.Time, fire func(*Timer[T])) int {
	if w.advancing {
		panic("timerwheel: Advance called from a fire callback")
	}
	w.advancing = true
	defer func() { w.advancing = false }()

	target := w.cur
	if d := now.Sub(w.start); d > 0 {
		target = max(target, int64(d/w.tick))
	}
	// Move cur first so that timers armed by fire land beyond this Advance
	// (in a later slot visit or the due list) instead of being chased now.
	prev := w.cur
	w.cur = target

	n := 0
	if w.heads[w.due] != nil {
		n += w.fireList(w.due, target, fire)
	}
	// After a stall of at least one revolution every slot holds due
	// timers, so one pass over all slots is enough however long the gap.
	steps := min(target-prev, w.mask+1)
	for k := int64(1); k <= steps; k++ {
		s := int32((prev + k) & w.mask)
		if w.heads[s] != nil {
			n += w.fireList(s, target, fire)
		}
	}
	return n
}

// fireList fires the timers of one list that are due by tick target. Timers
// from later revolutions stay where they are.
func (w *Wheel[T]) fireList(list int32, target int64, fire func(*Timer[T])) int {
	n := 0
	w.cursor = w.heads[list]
	for w.cursor != nil {
		t := w.cursor
		w.cursor = t.next
		if t.expires <= target {
			w.unlink(t)
			n++
			fire(t)
		}
	}
	return n
}

func (w *Wheel[T]) unlink(t *Timer[T]) {
	if w.cursor == t {
		w.cursor = t.next
	}
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		w.heads[t.list] = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next, t.owner = nil, nil, nil
	w.count--
}

func (w *Wheel[T]) own(t *Timer[T]) {
	if t.owner != w {
		panic("timerwheel: timer is armed in another wheel")
	}
}

// tickOf returns the tick at whose end deadline is due: the deadline rounded
// up to the tick, relative to start. Sub saturates, so far deadlines clamp
// instead of wrapping.
func (w *Wheel[T]) tickOf(deadline time.Time) int64 {
	d := deadline.Sub(w.start)
	if d <= 0 {
		return 0
	}
	e := int64(d / w.tick)
	if d%w.tick != 0 && e < math.MaxInt64 {
		e++
	}
	return e
}
