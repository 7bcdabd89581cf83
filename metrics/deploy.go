package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Certificates whose expiry is exported, as the cert label's values.
const (
	CertServer = "server"
	CertCA     = "ca"
)

// deployCollectors are the series an operator's dashboards and alerts
// key on: which build runs, and when its certificates expire.
type deployCollectors struct {
	buildInfo  *prometheus.GaugeVec
	certExpiry *prometheus.GaugeVec
}

func newDeployCollectors(reg *prometheus.Registry) deployCollectors {
	d := deployCollectors{
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tlslpd_build_info",
			Help: "Always 1; the labels say which build is running.",
		}, []string{"version", "goversion", "revision"}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tlslpd_certificate_expiry_timestamp_seconds",
			Help: "When the loaded certificate expires (Unix seconds; the earliest NotAfter of the file's certificates).",
		}, []string{"cert"}),
	}
	reg.MustRegister(d.buildInfo, d.certExpiry)
	return d
}

// SetBuildInfo exports tlslpd_build_info{version,goversion,revision} 1.
func (m *Metrics) SetBuildInfo(version, goVersion, revision string) {
	m.deploy.buildInfo.Reset()
	m.deploy.buildInfo.WithLabelValues(version, goVersion, revision).Set(1)
}

// SetCertificateExpiry exports when cert (CertServer or CertCA) expires;
// a zero time removes the series (no such certificate is loaded).
func (m *Metrics) SetCertificateExpiry(cert string, notAfter time.Time) {
	if notAfter.IsZero() {
		m.deploy.certExpiry.DeleteLabelValues(cert)
		return
	}
	m.deploy.certExpiry.WithLabelValues(cert).Set(float64(notAfter.Unix()))
}
