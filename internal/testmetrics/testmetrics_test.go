package testmetrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"tlslpd/internal/testfail"
)

const page = `# HELP tlslpd_sessions_finished_total Sessions by outcome.
# TYPE tlslpd_sessions_finished_total counter
tlslpd_sessions_finished_total{outcome="completed"} 3
tlslpd_sessions_finished_total{outcome="injected_fail",transport="tls"} 1
tlslpd_connections_open 0
process_start_time_seconds 1.7e+09
`

func serve(t *testing.T, body string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

func TestScrape(t *testing.T) {
	s := Scrape(t, serve(t, page))
	assert.Equal(t, Series{
		`tlslpd_sessions_finished_total{outcome="completed"}`:                     3,
		`tlslpd_sessions_finished_total{outcome="injected_fail",transport="tls"}`: 1,
		`tlslpd_connections_open`:                                                 0,
		`process_start_time_seconds`:                                              1.7e9,
	}, s)
	assert.Equal(t, 0.0, s.Get(t, "tlslpd_connections_open"))
	assert.Equal(t, map[string]bool{"tlslpd_sessions_finished_total": true, "tlslpd_connections_open": true, "process_start_time_seconds": true}, s.Names())
}

// fails says whether fn fails the test it is given.
func fails(t *testing.T, fn func(tb testing.TB)) bool { return testfail.Run(t, fn).Failed }

func TestAbsentSeriesAndBadPagesFail(t *testing.T) {
	s := Scrape(t, serve(t, page))
	assert.True(t, fails(t, func(tb testing.TB) { s.Get(tb, "tlslpd_nope") }), "absent is not zero")
	assert.True(t, fails(t, func(tb testing.TB) { Scrape(tb, serve(t, "tlslpd_x notanumber\n")) }))
	assert.True(t, fails(t, func(tb testing.TB) { Scrape(tb, serve(t, "tlslpd_x\n")) }))
	assert.False(t, fails(t, func(tb testing.TB) { Scrape(tb, serve(t, page)) }))
}
