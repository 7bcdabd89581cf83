package eventloop

import (
	"math"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"tlslpd/metrics"
)

// DefaultNoticeInterval is how often refusals, sheds and failed handshakes
// are summed up in the log when Config.NoticeInterval is zero.
const DefaultNoticeInterval = 10 * time.Second

// A noticeKind is a family of connection endings that operators must see
// without a log line per connection: each is counted by reason in metrics
// at once, and logged once per interval per reason with a count and a
// sample source address.
type noticeKind uint8

const (
	noticeRefused   noticeKind = iota // turned away by policy
	noticeShed                        // closed to protect the server
	noticeHandshake                   // a TLS handshake that did not complete
)

func (k noticeKind) message() string {
	switch k {
	case noticeRefused:
		return "connections refused"
	case noticeShed:
		return "connections shed"
	}
	return "TLS handshakes failed"
}

type noticeKey struct {
	kind   noticeKind
	reason string
}

type noticeCount struct {
	n      uint64
	sample netip.AddrPort // the first source of the interval
}

// notices sums up endings between two reports. Any loop may add; the
// ticker goroutine reports. One lock taken per refused or failed
// connection is cheap next to what the connection cost.
type notices struct {
	mu     sync.Mutex
	counts map[noticeKey]*noticeCount
}

func (n *notices) add(kind noticeKind, reason string, from netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.counts == nil {
		n.counts = map[noticeKey]*noticeCount{}
	}
	c := n.counts[noticeKey{kind, reason}]
	if c == nil {
		c = &noticeCount{sample: from}
		n.counts[noticeKey{kind, reason}] = c
	}
	c.n++
}

// report logs one line per kind and reason seen since the last report and
// forgets them; interval is the time the counts cover.
func (n *notices) report(log zerolog.Logger, interval time.Duration) {
	n.mu.Lock()
	counts := n.counts
	n.counts = nil
	n.mu.Unlock()
	keys := make([]noticeKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].kind != keys[j].kind {
			return keys[i].kind < keys[j].kind
		}
		return keys[i].reason < keys[j].reason
	})
	for _, k := range keys {
		c := counts[k]
		ev := log.WithLevel(noticeLevel(k))
		ev = ev.Str("reason", k.reason).Uint64("count", c.n).Float64("interval_seconds", math.Round(interval.Seconds()*10)/10)
		if c.sample.IsValid() {
			ev = ev.Str("sample_remote", c.sample.String())
		}
		ev.Msg(k.kind.message())
	}
}

// noticeLevel is WARN for what an operator may have to act on (limits
// reached, overload, clients whose certificates fail) and INFO for what
// any server exposed to a network sees (scanners, timeouts, peers leaving).
func noticeLevel(k noticeKey) zerolog.Level {
	switch k.reason {
	case metrics.RefusedDraining, metrics.RefusedTutorialBusy,
		metrics.HandshakeTimeout, metrics.HandshakeAbandoned, metrics.HandshakeNotTLS:
		return zerolog.InfoLevel
	}
	return zerolog.WarnLevel
}

// notice counts one connection ending by kind and reason: in metrics at
// once, and in the next periodic log line.
func (s *Server) notice(kind noticeKind, reason string, from netip.AddrPort) {
	if s.met != nil {
		switch kind {
		case noticeRefused:
			s.met.Refused(reason)
		case noticeShed:
			s.met.Shed(reason)
		case noticeHandshake:
			s.met.HandshakeEnded(reason)
		}
	}
	if kind == noticeHandshake && reason == metrics.HandshakeCanceled {
		return // the server's own doing (shutdown, a shed), reported as that
	}
	s.notices.add(kind, reason, from)
}
