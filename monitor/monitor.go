package monitor

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

//go:embed page.html
var page []byte

// Options bound the monitor's cost.
type Options struct {
	// SamplesPerSecond caps the finished sessions the feed takes per
	// second; the rest are counted, not copied. 0 means 20.
	SamplesPerSecond int
	// Recent is the recent-sessions table's length; 0 means 50.
	Recent int
	// MaxWatchers caps concurrent event streams; 0 means 16.
	MaxWatchers int
	// Interval between updates; 0 means one second.
	Interval time.Duration
}

// Session is one sampled finished session, as the table shows it.
type Session struct {
	End         time.Time `json:"end"`
	Remote      string    `json:"remote"`
	Transport   string    `json:"transport"`
	Outcome     string    `json:"outcome"`
	LastStep    string    `json:"last_step"`
	Duration    float64   `json:"duration_seconds"`
	Fingerprint string    `json:"fingerprint,omitempty"`
}

// Monitor serves the page and the stream. Create with New.
type Monitor struct {
	reg  prometheus.Gatherer
	opts Options

	budget  atomic.Int64 // samples left this second
	offered atomic.Int64 // every Offer, sampled or not
	feed    chan Session

	mu       sync.Mutex
	recent   []Session // newest last, at most opts.Recent
	watchers int

	done     chan struct{}
	stopOnce sync.Once
}

// New makes a monitor reading reg (the daemon's metrics registry).
func New(reg prometheus.Gatherer, opts Options) *Monitor {
	if opts.SamplesPerSecond <= 0 {
		opts.SamplesPerSecond = 20
	}
	if opts.Recent <= 0 {
		opts.Recent = 50
	}
	if opts.MaxWatchers <= 0 {
		opts.MaxWatchers = 16
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	m := &Monitor{reg: reg, opts: opts, feed: make(chan Session, opts.SamplesPerSecond), done: make(chan struct{})}
	m.budget.Store(int64(opts.SamplesPerSecond))
	go m.run()
	return m
}

// Offer hands the monitor a finished session; called on an event loop.
// Past the second's sample budget, or when the feed is full, it returns
// at once without copying anything.
func (m *Monitor) Offer(s func() Session) {
	m.offered.Add(1)
	if m.budget.Add(-1) < 0 {
		return
	}
	select {
	case m.feed <- s():
	default:
	}
}

// run moves sampled sessions into the recent table and refills the budget.
func (m *Monitor) run() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case s := <-m.feed:
			m.mu.Lock()
			m.recent = append(m.recent, s)
			if over := len(m.recent) - m.opts.Recent; over > 0 {
				m.recent = append(m.recent[:0], m.recent[over:]...)
			}
			m.mu.Unlock()
		case <-t.C:
			m.budget.Store(int64(m.opts.SamplesPerSecond))
		}
	}
}

// Close ends the streams and the feed's goroutine.
func (m *Monitor) Close() { m.stopOnce.Do(func() { close(m.done) }) }

// Handlers are the routes to serve on the metrics listener.
func (m *Monitor) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"/monitor":        http.HandlerFunc(m.servePage),
		"/monitor/events": http.HandlerFunc(m.serveEvents),
	}
}

func (m *Monitor) servePage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(page)
}

// serveEvents streams one update per interval while the client stays.
func (m *Monitor) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	m.mu.Lock()
	if m.watchers >= m.opts.MaxWatchers {
		m.mu.Unlock()
		http.Error(w, "too many monitors open", http.StatusServiceUnavailable)
		return
	}
	m.watchers++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.watchers--
		m.mu.Unlock()
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	var prev *reading
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		cur, err := m.read()
		if err == nil {
			msg, _ := json.Marshal(m.update(prev, cur))
			if _, err := fmt.Fprintf(w, "data: %s\n\n", msg); err != nil {
				return
			}
			flusher.Flush()
			prev = cur
		}
		select {
		case <-r.Context().Done():
			return
		case <-m.done:
			return
		case <-t.C:
		}
	}
}

// reading is one pass over the registry.
type reading struct {
	at         time.Time
	active     map[string]float64
	open       float64
	handshakes float64 // ok
	failed     float64 // handshakes ended otherwise
	pow        float64
	finished   map[string]float64 // by outcome
	refused    map[string]float64 // refusals and sheds by reason
	transports map[string]float64 // sessions by transport
	latency    []bucket           // all steps summed, cumulative
}

type bucket struct {
	Le    float64 `json:"le"`
	Count float64 `json:"count"`
}

func (m *Monitor) read() (*reading, error) {
	fams, err := m.reg.Gather()
	if err != nil && len(fams) == 0 {
		return nil, err
	}
	r := &reading{at: time.Now(), active: map[string]float64{}, finished: map[string]float64{}, refused: map[string]float64{}, transports: map[string]float64{}}
	for _, f := range fams {
		for _, mt := range f.GetMetric() {
			switch f.GetName() {
			case "tlslpd_sessions_active":
				r.active[label(mt, "state")] = mt.GetGauge().GetValue()
			case "tlslpd_connections_open":
				r.open = mt.GetGauge().GetValue()
			case "tlslpd_tls_handshakes_total":
				if label(mt, "result") == "ok" {
					r.handshakes += mt.GetCounter().GetValue()
				} else {
					r.failed += mt.GetCounter().GetValue()
				}
			case "tlslpd_pow_checks_total":
				r.pow += mt.GetCounter().GetValue()
			case "tlslpd_sessions_finished_total":
				r.finished[label(mt, "outcome")] = mt.GetCounter().GetValue()
			case "tlslpd_connections_refused_total", "tlslpd_connections_shed_total":
				r.refused[label(mt, "reason")] += mt.GetCounter().GetValue()
			case "tlslpd_transport_sessions_total":
				r.transports[label(mt, "transport")] = mt.GetCounter().GetValue()
			case "tlslpd_step_duration_seconds":
				bs := mt.GetHistogram().GetBucket()
				if r.latency == nil {
					r.latency = make([]bucket, len(bs))
				}
				for i, b := range bs {
					if i < len(r.latency) {
						r.latency[i].Le = b.GetUpperBound()
						r.latency[i].Count += float64(b.GetCumulativeCount())
					}
				}
			}
		}
	}
	return r, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Update is one message on the stream.
type Update struct {
	Time                time.Time          `json:"time"`
	Open                float64            `json:"connections_open"`
	Active              map[string]float64 `json:"sessions_active"`
	HandshakesPerSecond float64            `json:"tls_handshakes_per_second"`
	FailedPerSecond     float64            `json:"tls_handshakes_failed_per_second"`
	PoWPerSecond        float64            `json:"pow_checks_per_second"`
	Finished            map[string]float64 `json:"sessions_finished"`
	Refused             map[string]float64 `json:"refused"`
	Transports          map[string]float64 `json:"sessions_by_transport"`
	Latency             []bucket           `json:"step_latency"` // cumulative counts per upper bound, every step
	Recent              []Session          `json:"recent"`       // newest first
	Offered             int64              `json:"sessions_offered"`
}

func (m *Monitor) update(prev, cur *reading) Update {
	u := Update{Time: cur.at, Open: cur.open, Active: cur.active, Finished: nonZero(cur.finished), Refused: nonZero(cur.refused),
		Transports: nonZero(cur.transports), Latency: cur.latency, Offered: m.offered.Load()}
	if prev != nil {
		if dt := cur.at.Sub(prev.at).Seconds(); dt > 0 {
			u.HandshakesPerSecond = (cur.handshakes - prev.handshakes) / dt
			u.FailedPerSecond = (cur.failed - prev.failed) / dt
			u.PoWPerSecond = (cur.pow - prev.pow) / dt
		}
	}
	m.mu.Lock()
	u.Recent = make([]Session, len(m.recent))
	for i, s := range m.recent {
		u.Recent[len(m.recent)-1-i] = s
	}
	m.mu.Unlock()
	return u
}

// nonZero drops the series still at zero (every label is pre-created).
func nonZero(in map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(in))
	for k, v := range in {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
