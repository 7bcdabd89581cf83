package monitor

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOfferIsBoundedAndSampled(t *testing.T) {
	m := New(prometheus.NewRegistry(), Options{SamplesPerSecond: 5, Recent: 3})
	defer m.Close()
	copied := 0
	for i := 0; i < 100; i++ {
		m.Offer(func() Session { copied++; return Session{Remote: "r", Outcome: "completed"} })
	}
	assert.Equal(t, 5, copied, "past the second's budget nothing is copied")
	assert.Equal(t, int64(100), m.offered.Load())
	require.Eventually(t, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.recent) == 3
	}, 5*time.Second, 5*time.Millisecond, "the table keeps the newest Recent sessions")
}

func TestOfferAllocatesNothingPastTheBudget(t *testing.T) {
	m := New(prometheus.NewRegistry(), Options{SamplesPerSecond: 1})
	defer m.Close()
	m.budget.Store(-1 << 40) // spent for the test's duration
	s := Session{Remote: "r"}
	allocs := testing.AllocsPerRun(1000, func() { m.Offer(func() Session { return s }) })
	assert.Zero(t, allocs)
}

func TestEventStream(t *testing.T) {
	reg := prometheus.NewRegistry()
	pow := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tlslpd_pow_checks_total"}, []string{"result"})
	active := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tlslpd_sessions_active"}, []string{"state"})
	reg.MustRegister(pow, active)
	active.WithLabelValues("work").Set(7)
	m := New(reg, Options{Interval: 50 * time.Millisecond, MaxWatchers: 1})
	defer m.Close()
	m.Offer(func() Session { return Session{Remote: "127.0.0.1:9", Transport: "ws", Outcome: "completed"} })
	srv := httptest.NewServer(http.HandlerFunc(m.serveEvents))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	second, err := http.Get(srv.URL)
	require.NoError(t, err)
	second.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, second.StatusCode, "watchers are bounded")

	sc := bufio.NewScanner(resp.Body)
	var updates []Update
	for len(updates) < 3 && sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var u Update
		require.NoError(t, json.Unmarshal([]byte(line), &u))
		updates = append(updates, u)
		pow.WithLabelValues("valid").Add(10)
	}
	require.Len(t, updates, 3)
	last := updates[2]
	assert.Equal(t, 7.0, last.Active["work"])
	assert.Greater(t, last.PoWPerSecond, 0.0, "a rate from two readings")
	require.NotEmpty(t, last.Recent)
	assert.Equal(t, "ws", last.Recent[0].Transport)
}
