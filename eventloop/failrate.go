package eventloop

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"tlslpd/tlsbridge"
)

// FailedHandshakeBurst is how many seconds' worth of
// Config.FailedHandshakesPerIP a source address may use at once.
const FailedHandshakeBurst = 20

// maxFailAddrs bounds the source addresses a failBudget remembers.
const maxFailAddrs = 16384

// failBudget rates, per source address (tlsbridge.AddrKey: IPv4 address,
// IPv6 /64), the TLS handshakes that end without completing: stalled and
// shed, timed out, abandoned, failed. Each such ending costs its address
// one token; tokens come back at rate per second, up to a burst of
// FailedHandshakeBurst seconds' worth; an address without a token has its
// new connections refused at accept, before any handshake work.
//
// Handshakes that complete cost nothing, so a load test from one address
// is never refused however fast it connects; a peer that makes the server
// compute a first flight and then stalls, or reconnects each time it is
// shed, gets rate first flights a second once its burst is spent.
//
// It keeps, per address, the time its bucket is full again (a GCRA's
// theoretical arrival time): one int64, and addresses whose bucket is
// full are forgotten. Any loop may call it.
type failBudget struct {
	interval int64        // nanoseconds one token takes to come back; 0: off
	depth    int64        // interval * burst: the most debt an address holds
	now      func() int64 // Unix ns; called under mu

	n    atomic.Int32 // len(full), so that an empty budget costs no lock
	mu   sync.Mutex
	full map[netip.Addr]int64 // key → Unix ns at which its bucket is full again
}

func newFailBudget(perSecond float64) *failBudget {
	b := &failBudget{now: func() int64 { return time.Now().UnixNano() }}
	if perSecond > 0 {
		b.interval = max(1, int64(float64(time.Second)/perSecond))
		b.depth = b.interval * int64(max(1, perSecond*FailedHandshakeBurst))
	}
	return b
}

// admits reports whether addr has a token left.
func (b *failBudget) admits(addr netip.Addr) bool {
	if b.interval == 0 || b.n.Load() == 0 || !addr.IsValid() {
		return true
	}
	key := tlsbridge.AddrKey(addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.full[key]
	if !ok {
		return true
	}
	now := b.now()
	if t <= now {
		delete(b.full, key)
		b.n.Store(int32(len(b.full)))
		return true
	}
	// Debt of a whole burst: no token left.
	return t-now <= b.depth-b.interval
}

// spend takes a token from addr: one of its handshakes ended without
// completing.
func (b *failBudget) spend(addr netip.Addr) {
	if b.interval == 0 || !addr.IsValid() {
		return
	}
	key := tlsbridge.AddrKey(addr)
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.full == nil {
		b.full = map[netip.Addr]int64{}
	}
	t, ok := b.full[key]
	if !ok && len(b.full) >= maxFailAddrs {
		b.makeRoomLocked(now)
	}
	// Handshakes already accepted may still fail past the burst; the
	// debt stops at it, so an address is refused for at most a burst's
	// time after its last failure.
	b.full[key] = min(max(t, now)+b.interval, now+b.depth)
	b.n.Store(int32(len(b.full)))
}

// makeRoomLocked forgets every address whose bucket is full again, and if
// that frees nothing, an eighth of the rest (whichever the map yields
// first): a bounded map, at the price of forgiving some addresses early
// when more than maxFailAddrs fail at once.
func (b *failBudget) makeRoomLocked(now int64) {
	for k, t := range b.full {
		if t <= now {
			delete(b.full, k)
		}
	}
	for k := range b.full {
		if len(b.full) < maxFailAddrs-maxFailAddrs/8 {
			break
		}
		delete(b.full, k)
	}
}
