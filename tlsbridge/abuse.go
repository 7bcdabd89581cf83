package tlsbridge

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// What an established peer may send that carries no application data,
// bounded per connection and per unit of time: each record of such a kind
// costs the server work (a KeyUpdate derives keys and writes an answer)
// while the peer pays almost nothing, so a flood of them slows every
// session on the loop. A bound that only counted records in a row would
// let a peer slip a byte of data between them.
type abuse uint8

const (
	abuseKeyUpdate     abuse = iota // TLS 1.3 KeyUpdate messages
	abuseEmptyRecord                // records without application data (empty, or handshake fragments)
	abuseAlert                      // TLS 1.2 alert records (warnings crypto/tls would skip)
	abuseRenegotiation              // TLS 1.2 handshake records: this server never renegotiates
	numAbuse
)

// Errors, one per reason, that end an engine whose peer went past a
// bound. They wrap ErrPeerAbuse.
var (
	ErrTooManyKeyUpdates   = fmt.Errorf("%w: too many KeyUpdates", ErrPeerAbuse)
	ErrTooManyEmptyRecords = fmt.Errorf("%w: too many records without application data", ErrPeerAbuse)
	ErrTooManyAlerts       = fmt.Errorf("%w: too many alerts", ErrPeerAbuse)
	ErrRenegotiation       = fmt.Errorf("%w: TLS 1.2 renegotiation attempted", ErrPeerAbuse)
	// ErrPenalized refuses a handshake from a source address whose session
	// was closed for abuse within abusePenalty.
	ErrPenalized = fmt.Errorf("%w: its source address was closed for abuse moments ago", ErrPeerAbuse)
)

// abuseErrs is a lookup table, not state.
var abuseErrs = [numAbuse]error{ErrTooManyKeyUpdates, ErrTooManyEmptyRecords, ErrTooManyAlerts, ErrRenegotiation}

// rateLimit allows burst records at once, then one per interval.
type rateLimit struct {
	burst    int64
	interval time.Duration
}

// defaultPeerLimits leave an honest peer far inside them: crypto/tls and
// OpenSSL send a KeyUpdate only on request or after gigabytes, an empty
// record or a warning alert hardly ever, and a renegotiation never
// reaches this server.
func defaultPeerLimits() [numAbuse]rateLimit {
	return [numAbuse]rateLimit{
		abuseKeyUpdate:     {burst: 16, interval: time.Second},
		abuseEmptyRecord:   {burst: 32, interval: 100 * time.Millisecond},
		abuseAlert:         {burst: 8, interval: time.Second},
		abuseRenegotiation: {burst: 0, interval: time.Second},
	}
}

// peerRates is one engine's standing against each limit, as GCRA
// theoretical arrival times in nanoseconds of its Server's clock: one
// word per limit, no timer.
type peerRates [numAbuse]int64

// allow spends one record of kind k at now; false means past the limit.
func (r *peerRates) allow(k abuse, now int64, l rateLimit) bool {
	t := max(r[k], now)
	if t-now > (l.burst-1)*int64(l.interval) {
		return false
	}
	r[k] = t + int64(l.interval)
	return true
}

// rate counts one record of kind k against the peer's limit. Past it the
// engine's error is k's; the caller fails the engine with it.
func (e *engine) rate(k abuse) error {
	if e.rates == nil {
		e.rates = new(peerRates) // most sessions never need it
	}
	now := e.srv.clock()
	if e.rates.allow(k, now, e.srv.peerLimits[k]) {
		return nil
	}
	e.srv.abuseN[k].Add(1)
	e.srv.penalties.add(e.addr, now)
	return abuseErrs[k]
}

// screenRecord12 rates an established TLS 1.2 session's next record from
// its header, before crypto/tls decrypts it: there the outer type is the
// real one, and an AEAD record whose length is only the nonce and tag
// carries no data.
func (e *engine) screenRecord12(hdr []byte) error {
	switch hdr[0] {
	case recordTypeHandshake:
		return e.rate(abuseRenegotiation)
	case recordTypeAlert:
		return e.rate(abuseAlert)
	case recordTypeApplicationData:
		if int(binary.BigEndian.Uint16(hdr[3:5])) <= aeadOverhead12(e.peer.CipherSuite) {
			return e.rate(abuseEmptyRecord)
		}
	}
	return nil
}

// aeadOverhead12 is what a TLS 1.2 AEAD record adds to its plaintext:
// the explicit nonce (AES-GCM only) and the tag.
func aeadOverhead12(suite uint16) int {
	switch suite {
	case tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return aeadTagLen
	}
	return 8 + aeadTagLen
}

// abusePenalty is how long handshakes from a source address are refused
// after one of its sessions was closed for abuse: a flooder that
// reconnects at once would otherwise make the server pay a whole
// handshake for every few records it is allowed. Honest peers never come
// near the limits, so only an address shared with an abuser (NAT) feels
// it, and only for this long.
const abusePenalty = 10 * time.Second

// maxPenalized bounds the addresses a penaltyBox remembers.
const maxPenalized = 4096

// penaltyBox holds the source addresses serving an abusePenalty.
type penaltyBox struct {
	n     atomic.Int32 // len(until), so that an empty box costs no lock
	mu    sync.Mutex
	until map[netip.Addr]int64 // AddrKey → clock time the penalty ends
}

func (p *penaltyBox) add(addr netip.Addr, now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.until == nil {
		p.until = map[netip.Addr]int64{}
	}
	if len(p.until) >= maxPenalized {
		for a, t := range p.until {
			if t <= now || len(p.until) >= maxPenalized {
				delete(p.until, a) // expired, or any one to make room
			}
		}
	}
	p.until[addr] = now + int64(abusePenalty)
	p.n.Store(int32(len(p.until)))
}

// holds reports whether addr serves a penalty at now.
func (p *penaltyBox) holds(addr netip.Addr, now int64) bool {
	if p.n.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.until[addr]
	if ok && t <= now {
		delete(p.until, addr)
		p.n.Store(int32(len(p.until)))
		return false
	}
	return ok
}
