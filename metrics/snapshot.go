package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Snapshot is a point-in-time reading of the counters the status line
// reports.
type Snapshot struct {
	Open       float64
	Active     map[string]float64 // by protocol state
	Handshakes float64
	PoWChecks  float64
	Finished   float64
	Refused    float64 // all reasons
	Shed       float64 // all reasons
	// HandshakesFailed is every handshake that ended without a session
	// (all results but ok).
	HandshakesFailed float64
}

// Snapshot reads the collectors directly (no scrape, no label lookups).
func (m *Metrics) Snapshot() Snapshot {
	s := Snapshot{
		Open:       read(m.ConnectionsOpen),
		Handshakes: read(m.HandshakesOK),
		PoWChecks:  read(m.PoWValid) + read(m.PoWInvalid),
		Active:     make(map[string]float64, len(steps)),
	}
	for _, st := range steps {
		s.Active[st.String()] = read(m.sessionsActive[st])
	}
	for _, c := range m.sessionsFinished {
		s.Finished += read(c)
	}
	s.Refused = sum(m.refused)
	s.Shed = sum(m.shed)
	s.HandshakesFailed = sum(m.handshakes) - s.Handshakes
	return s
}

func read(c prometheus.Metric) float64 {
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		return 0
	}
	switch {
	case out.Counter != nil:
		return out.Counter.GetValue()
	case out.Gauge != nil:
		return out.Gauge.GetValue()
	}
	return 0
}

func sum(cs map[string]prometheus.Counter) float64 {
	total := 0.0
	for _, c := range cs {
		total += read(c)
	}
	return total
}
