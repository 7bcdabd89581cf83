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
	buildInfo    *prometheus.GaugeVec
	certExpiry   *prometheus.GaugeVec
	proxyHeaders [3]prometheus.Counter // by PROXY protocol version (1, 2)
}

// Reasons the PROXY protocol stage refuses a connection for, as
// tlslpd_connections_refused_total's reason label.
const (
	RefusedProxyUntrusted = "proxy_untrusted" // a header from a source not trusted to send one
	RefusedProxyMalformed = "proxy_malformed" // a trusted source's header is broken
	RefusedProxyMissing   = "proxy_missing"   // a trusted source sent no header
)

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
	headers := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tlslpd_proxy_headers_total",
		Help: "PROXY protocol headers accepted from trusted balancers, by version.",
	}, []string{"version"})
	d.proxyHeaders[1], d.proxyHeaders[2] = headers.WithLabelValues("1"), headers.WithLabelValues("2")
	reg.MustRegister(d.buildInfo, d.certExpiry, headers)
	return d
}

// ProxyHeader counts an accepted PROXY header of version 1 or 2.
func (m *Metrics) ProxyHeader(version int) {
	if version == 1 || version == 2 {
		m.deploy.proxyHeaders[version].Inc()
	}
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

// ProxyHeaderCounter is the counter behind ProxyHeader(version).
func (m *Metrics) ProxyHeaderCounter(version int) prometheus.Counter {
	return m.deploy.proxyHeaders[version]
}
