package identity

import "github.com/prometheus/client_golang/prometheus"

var decisionsDesc = prometheus.NewDesc("tlslpd_identity_decisions_total",
	"Client identity rule decisions: handshakes allowed, anonymous, denied, not_allowed; sessions over_limit.",
	[]string{"decision"}, nil)

// Collector exports the decision counts, every decision from startup; no
// per-identity labels (their number is unbounded).
func (r *Rules) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Rules }

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- decisionsDesc }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for i, d := range decisions {
		ch <- prometheus.MustNewConstMetric(decisionsDesc, prometheus.CounterValue, float64(c.r.decided[i].Load()), d)
	}
}
