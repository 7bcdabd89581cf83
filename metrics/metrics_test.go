package metrics

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/statemachine"
)

func TestSnapshotFollowsUpdates(t *testing.T) {
	m := New()
	m.ConnectionsOpen.Inc()
	m.HandshakesOK.Add(3)
	m.PoWValid.Inc()
	m.PoWInvalid.Add(2)
	m.Transition(statemachine.StateNew, statemachine.StateHello)
	m.Transition(statemachine.StateHello, statemachine.StateWork)
	m.Transition(statemachine.StateNew, statemachine.StateHello)
	m.Finished(statemachine.OutcomeCompleted)
	m.Finished(statemachine.OutcomeTimeout)
	m.Refused(RefusedMaxConns)
	m.Refused(RefusedDraining)
	m.Shed(ShedOverload)
	m.HandshakeEnded(HandshakeTimeout)
	m.HandshakeEnded("no such result") // ignored, not a new series

	s := m.Snapshot()
	assert.Equal(t, 1.0, s.Open)
	assert.Equal(t, 3.0, s.Handshakes)
	assert.Equal(t, 3.0, s.PoWChecks)
	assert.Equal(t, 2.0, s.Finished)
	assert.Equal(t, 2.0, s.Refused)
	assert.Equal(t, 1.0, s.Shed)
	assert.Equal(t, 1.0, s.HandshakesFailed)
	assert.Equal(t, map[string]float64{"hello": 1, "work": 1, "body": 0, "done": 0}, s.Active)
}

func TestHTTPEndpoints(t *testing.T) {
	m := New()
	m.StepLatency(statemachine.StateWork, 0.5)
	h, err := Listen("127.0.0.1:0", m, HTTPOptions{})
	require.NoError(t, err)
	go func() { _ = h.Serve() }()
	defer h.Shutdown(t.Context())
	base := "http://" + h.Addr().String()
	client := http.Client{Timeout: 5 * time.Second}

	get := func(path string) (int, string) {
		resp, err := client.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	code, body := get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	for _, name := range []string{"go_goroutines", "tlslpd_connections_open", "tlslpd_step_duration_seconds_bucket{step=\"work\"", "tlslpd_pow_checks_total"} {
		assert.True(t, strings.Contains(body, name), name)
	}
	code, _ = get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready until the server says so")
	h.SetReady(true)
	code, _ = get("/readyz")
	assert.Equal(t, http.StatusOK, code)
}

// Alerts on refusals, sheds and handshake failures need their series
// before the first event: every label value is exported at zero.
func TestReasonSeriesExistFromStartup(t *testing.T) {
	m := New()
	want := map[string][]string{
		"tlslpd_connections_refused_total": RefusedReasons(),
		"tlslpd_connections_shed_total":    ShedReasons(),
		"tlslpd_tls_handshakes_total":      HandshakeResults(),
	}
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	got := map[string][]string{}
	for _, f := range families {
		if _, ok := want[f.GetName()]; !ok {
			continue
		}
		for _, metric := range f.GetMetric() {
			require.Len(t, metric.GetLabel(), 1)
			assert.Zero(t, metric.GetCounter().GetValue())
			got[f.GetName()] = append(got[f.GetName()], metric.GetLabel()[0].GetValue())
		}
	}
	for name, values := range want {
		assert.ElementsMatch(t, values, got[name], name)
	}
}

// Idle connections to the metrics endpoint hold at most MaxHTTPConns
// descriptors (the rest wait in the backlog), and a scrape still gets
// through once they go.
func TestHTTPConnectionsAreBounded(t *testing.T) {
	h, err := Listen("127.0.0.1:0", New(), HTTPOptions{})
	require.NoError(t, err)
	go func() { _ = h.Serve() }()
	defer h.Shutdown(t.Context())
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			_ = c.Close()
		}
	}()
	for range MaxHTTPConns + 20 {
		c, err := net.DialTimeout("tcp", h.Addr().String(), 2*time.Second)
		require.NoError(t, err)
		idle = append(idle, c)
	}
	lim := h.ln.(*limitListener)
	require.Eventually(t, func() bool { return len(lim.slots) == MaxHTTPConns }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, MaxHTTPConns, len(lim.slots), "no more than the bound accepted")
	for _, c := range idle {
		_ = c.Close()
	}
	idle = nil
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + h.Addr().String() + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
