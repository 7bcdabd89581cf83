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
`

func TestParseGauge(t *testing.T) {
	tests := []struct {
		name, metric string
		want         float64
		wantError    string
	}{
		{"goroutines, not the longer name", "go_goroutines", 16, ""},
		{"another", "tlslpd_connections_open", 5000, ""},
		{"labelled only", "go_gc_duration_seconds", 0, "not in the exposition"},
		{"absent", "nope", 0, "not in the exposition"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGauge(exposition, tc.metric)
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

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	_, err = Goroutines(context.Background(), newScrapeClient(), bad.Listener.Addr().String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
}
