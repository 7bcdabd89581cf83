package metrics

import (
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildInfoAndCertificateExpiry(t *testing.T) {
	m := New()
	m.SetBuildInfo("v1.2.3", "go1.26.8", "abc123")
	m.SetBuildInfo("v1.2.4", "go1.26.8", "def456") // replaces, never two series
	assert.Equal(t, 1, testutil.CollectAndCount(m.deploy.buildInfo))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.deploy.buildInfo.WithLabelValues("v1.2.4", "go1.26.8", "def456")))

	exp := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	m.SetCertificateExpiry(CertServer, exp)
	m.SetCertificateExpiry(CertCA, exp.Add(time.Hour))
	assert.Equal(t, float64(exp.Unix()), testutil.ToFloat64(m.deploy.certExpiry.WithLabelValues(CertServer)))
	assert.Equal(t, float64(exp.Add(time.Hour).Unix()), testutil.ToFloat64(m.deploy.certExpiry.WithLabelValues(CertCA)))
	m.SetCertificateExpiry(CertCA, time.Time{})
	assert.Equal(t, 1, testutil.CollectAndCount(m.deploy.certExpiry), "no CA loaded: no CA series")
}

func TestPprofOnlyOnLoopbackUnlessAsked(t *testing.T) {
	serve := func(h *HTTP) *HTTP {
		go func() { _ = h.Serve() }()
		t.Cleanup(func() { _ = h.Shutdown(t.Context()) })
		return h
	}
	get := func(h *HTTP, path string) int {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + h.Addr().String() + path)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	h, err := Listen("127.0.0.1:0", New(), HTTPOptions{})
	require.NoError(t, err)
	serve(h)
	assert.True(t, h.Loopback())
	assert.Equal(t, http.StatusOK, get(h, "/debug/pprof/"))

	// Tests bind loopback only, so the non-loopback case is judged on
	// the address the listener reports.
	assert.False(t, isLoopback(&net.TCPAddr{IP: net.IPv4zero, Port: 9100}))
	assert.False(t, isLoopback(&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 9100}))
	assert.True(t, isLoopback(&net.TCPAddr{IP: net.IPv6loopback, Port: 9100}))
	for _, opts := range []HTTPOptions{{}, {Pprof: true}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		h2 := serve(newHTTP(ln, false, New(), opts))
		want := http.StatusNotFound
		if opts.Pprof {
			want = http.StatusOK
		}
		assert.Equal(t, want, get(h2, "/debug/pprof/"), "%+v", opts)
		assert.Equal(t, http.StatusOK, get(h2, "/metrics"))
	}
}

// Every tlslpd series exists from startup, at zero: a counter vector
// whose label values are not created up front would be missing until its
// first event, and rate() and alerts over it would see nothing.
func TestEverySeriesExistsFromStartup(t *testing.T) {
	m := New()
	descs := make(chan *prometheus.Desc, 256)
	m.Registry.Describe(descs)
	close(descs)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	var declared []string
	for d := range descs {
		if name := fqName.FindStringSubmatch(d.String())[1]; strings.HasPrefix(name, "tlslpd_") {
			declared = append(declared, name)
		}
	}
	require.NotEmpty(t, declared)
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	gathered := map[string]bool{}
	for _, f := range families {
		gathered[f.GetName()] = true
	}
	for _, name := range declared {
		switch name {
		case "tlslpd_build_info", "tlslpd_certificate_expiry_timestamp_seconds":
			continue // set by the daemon once it knows them (daemon tests)
		}
		assert.True(t, gathered[name], "%s has no series at startup", name)
	}
}
