package suite

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseGauge returns the value of an unlabelled metric from a Prometheus
// text exposition, e.g. go_goroutines.
func ParseGauge(text, name string) (float64, error) {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
			continue // another metric sharing the prefix, or a labelled one
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: value %q: %w", name, f[0], err)
		}
		return v, nil
	}
	return 0, fmt.Errorf("metric %s not in the exposition", name)
}

// newScrapeClient does not keep connections alive: an idle keep-alive
// connection would hold an fd and a goroutine in the server under test
// and blur the before/after comparison.
func newScrapeClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
}

// Goroutines scrapes go_goroutines from http://addr/metrics.
func Goroutines(ctx context.Context, hc *http.Client, addr string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("metrics request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scrape %s: HTTP %s", addr, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", addr, err)
	}
	v, err := ParseGauge(string(b), "go_goroutines")
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", addr, err)
	}
	return int(v), nil
}
