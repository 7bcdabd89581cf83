package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"tlslpd/statemachine"
)

// Steps whose latency is measured: time from the server's request to the
// client's reply.
var steps = [...]statemachine.State{statemachine.StateHello, statemachine.StateWork, statemachine.StateBody, statemachine.StateDone}

// Metrics holds every collector; its methods are safe for concurrent use.
// Children are resolved once here so the hot path never looks up labels.
type Metrics struct {
	Registry *prometheus.Registry

	ConnectionsOpen     prometheus.Gauge
	ConnectionsAccepted prometheus.Counter
	refused             map[string]prometheus.Counter
	shed                map[string]prometheus.Counter

	HandshakesOK prometheus.Counter
	handshakes   map[string]prometheus.Counter

	sessionsActive   [statemachine.StateFailed + 1]prometheus.Gauge
	sessionsFinished map[statemachine.Outcome]prometheus.Counter

	PoWValid   prometheus.Counter
	PoWInvalid prometheus.Counter

	stepLatency [statemachine.StateFailed + 1]prometheus.Observer

	deploy    deployCollectors
	transport transportCollectors
}

// New registers tlslpd's collectors plus the standard Go and process
// collectors (go_goroutines etc.) on a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }

	m := &Metrics{Registry: reg, sessionsFinished: map[statemachine.Outcome]prometheus.Counter{}}
	m.ConnectionsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tlslpd_connections_open", Help: "TCP connections open now."})
	m.ConnectionsAccepted = prometheus.NewCounter(prometheus.CounterOpts{Name: "tlslpd_connections_accepted_total", Help: "TCP connections accepted."})
	f(m.ConnectionsOpen)
	f(m.ConnectionsAccepted)
	m.refused = labelled(f, "tlslpd_connections_refused_total", "Connections turned away by policy, by reason.", "reason", RefusedReasons())
	m.shed = labelled(f, "tlslpd_connections_shed_total", "Connections closed to protect the server, by reason.", "reason", ShedReasons())
	m.handshakes = labelled(f, "tlslpd_tls_handshakes_total", "TLS handshakes by result.", "result", HandshakeResults())
	m.HandshakesOK = m.handshakes[HandshakeOK]

	active := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tlslpd_sessions_active", Help: "Established sessions by protocol state."}, []string{"state"})
	f(active)
	for _, s := range steps {
		m.sessionsActive[s] = active.WithLabelValues(s.String())
	}
	finished := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlslpd_sessions_finished_total", Help: "Finished sessions by outcome."}, []string{"outcome"})
	f(finished)
	for _, o := range statemachine.Outcomes() {
		m.sessionsFinished[o] = finished.WithLabelValues(o.String())
	}

	pow := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlslpd_pow_checks_total", Help: "PoW suffix checks by result."}, []string{"result"})
	f(pow)
	m.PoWValid = pow.WithLabelValues("valid")
	m.PoWInvalid = pow.WithLabelValues("invalid")

	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tlslpd_step_duration_seconds",
		Help:    "Time from the server's request to the client's reply, by step.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
	}, []string{"step"})
	f(lat)
	for _, s := range steps {
		m.stepLatency[s] = lat.WithLabelValues(s.String())
	}
	m.deploy = newDeployCollectors(reg)
	m.transport = newTransportCollectors(f)
	return m
}

// labelled registers a counter with one label and creates every child in
// values, so each series exists (at zero) from startup: alerts and rate()
// need the series before the first event.
func labelled(register func(prometheus.Collector), name, help, label string, values []string) map[string]prometheus.Counter {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	register(vec)
	out := make(map[string]prometheus.Counter, len(values))
	for _, v := range values {
		out[v] = vec.WithLabelValues(v)
	}
	return out
}

// Refused counts a connection turned away for reason (one of
// RefusedReasons).
func (m *Metrics) Refused(reason string) { count(m.refused, reason) }

// Shed counts a connection closed to protect the server (ShedReasons).
func (m *Metrics) Shed(reason string) { count(m.shed, reason) }

// HandshakeEnded counts a finished TLS handshake (HandshakeResults).
func (m *Metrics) HandshakeEnded(result string) { count(m.handshakes, result) }

// RefusedCounter, ShedCounter and HandshakeCounter are the counters behind
// Refused, Shed and HandshakeEnded (nil for an unknown label).
func (m *Metrics) RefusedCounter(reason string) prometheus.Counter { return m.refused[reason] }
func (m *Metrics) ShedCounter(reason string) prometheus.Counter    { return m.shed[reason] }
func (m *Metrics) HandshakeCounter(result string) prometheus.Counter {
	return m.handshakes[result]
}

// count increments the counter for label; an unknown label is a caller's
// bug that must not cost a series per typo, so it is ignored.
func count(cs map[string]prometheus.Counter, label string) {
	if c := cs[label]; c != nil {
		c.Inc()
	}
}

// Transition moves one session between protocol states in the gauge.
func (m *Metrics) Transition(from, to statemachine.State) {
	if g := m.sessionsActive[from]; g != nil {
		g.Dec()
	}
	if g := m.sessionsActive[to]; g != nil {
		g.Inc()
	}
}

// Finished counts a session outcome.
func (m *Metrics) Finished(o statemachine.Outcome) {
	if c := m.sessionsFinished[o]; c != nil {
		c.Inc()
	}
}

// StepLatency records how long the client took to answer in state s.
func (m *Metrics) StepLatency(s statemachine.State, seconds float64) {
	if o := m.stepLatency[s]; o != nil {
		o.Observe(seconds)
	}
}

// GaugeFunc registers a gauge read from fn at scrape time (e.g. handshake
// queue depth owned by another package).
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// CounterFunc registers a counter read from fn at scrape time.
func (m *Metrics) CounterFunc(name, help string, fn func() float64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}
