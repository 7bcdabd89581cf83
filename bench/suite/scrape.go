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

// ParseSum adds up every sample of a metric, labelled or not, e.g. both
// results of tlslpd_pow_checks_total.
func ParseSum(text, name string) (float64, error) {
	sum, found := 0.0, false
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" {
			continue
		}
		switch rest[0] {
		case '{':
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return 0, fmt.Errorf("metric %s: unterminated labels in %q", name, line)
			}
			rest = rest[end+1:]
		case ' ', '\t':
		default:
			continue // another metric sharing the prefix
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, fmt.Errorf("metric %s: no value in %q", name, line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: value %q: %w", name, f[0], err)
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("metric %s not in the exposition", name)
	}
	return sum, nil
}

// scrape fetches http://addr/metrics.
func scrape(ctx context.Context, hc *http.Client, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return "", fmt.Errorf("metrics request: %w", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape %s: HTTP %s", addr, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", addr, err)
	}
	return string(b), nil
}

// Goroutines scrapes go_goroutines from http://addr/metrics.
func Goroutines(ctx context.Context, hc *http.Client, addr string) (int, error) {
	text, err := scrape(ctx, hc, addr)
	if err != nil {
		return 0, err
	}
	v, err := ParseGauge(text, "go_goroutines")
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", addr, err)
	}
	return int(v), nil
}

// Sum scrapes http://addr/metrics and adds up every sample of name.
func Sum(ctx context.Context, hc *http.Client, addr, name string) (float64, error) {
	text, err := scrape(ctx, hc, addr)
	if err != nil {
		return 0, err
	}
	v, err := ParseSum(text, name)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", addr, err)
	}
	return v, nil
}
