package suite

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const exposition = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 16
go_goroutines_peak 99
go_threads 7
go_gc_duration_seconds{quantile="0"} 1.5e-05
tlslpd_connections_open 5000
# TYPE tlslpd_pow_checks_total counter
tlslpd_pow_checks_total{result="invalid"} 3
tlslpd_pow_checks_total{result="valid"} 1.2e+06
tlslpd_pow_checks_total_extra 7
`

// ParseGauge reads one unlabelled series; ParseSum adds up a metric's
// labelled series. Neither takes a longer name for the one asked.
func TestParseGaugeAndSum(t *testing.T) {
	text := exposition + "bad{a=\"b\"} x\ncut{a=\"b\" 1\n"
	tests := []struct {
		name, metric string
		parse        func(string, string) (float64, error)
		want         float64
		wantError    string
	}{
		{"gauge: goroutines, not the longer name", "go_goroutines", ParseGauge, 16, ""},
		{"gauge: another", "tlslpd_connections_open", ParseGauge, 5000, ""},
		{"gauge: labelled only", "go_gc_duration_seconds", ParseGauge, 0, "not in the exposition"},
		{"gauge: absent", "nope", ParseGauge, 0, "not in the exposition"},
		{"sum: labelled series add up, not the longer name", "tlslpd_pow_checks_total", ParseSum, 1.2e6 + 3, ""},
		{"sum: unlabelled", "go_goroutines", ParseSum, 16, ""},
		{"sum: absent", "nope", ParseSum, 0, "not in the exposition"},
		{"sum: bad value", "bad", ParseSum, 0, "value"},
		{"sum: unterminated labels", "cut", ParseSum, 0, "unterminated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parse(text, tc.metric)
			if tc.wantError != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantError)
				return
			}
			require.NoError(t, err)
			assert.InDelta(t, tc.want, got, 0)
		})
	}
	_, err := ParseGauge("go_goroutines many\n", "go_goroutines")
	require.Error(t, err)
}

func TestGoroutinesScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, exposition)
	}))
	defer srv.Close()
	n, err := Goroutines(context.Background(), newScrapeClient(), srv.Listener.Addr().String())
	require.NoError(t, err)
	assert.Equal(t, 16, n)
	checks, err := Sum(context.Background(), newScrapeClient(), srv.Listener.Addr().String(), "tlslpd_pow_checks_total")
	require.NoError(t, err)
	assert.InDelta(t, 1.2e6+3, checks, 0)

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	_, err = Goroutines(context.Background(), newScrapeClient(), bad.Listener.Addr().String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
}
