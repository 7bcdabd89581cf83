package testmetrics

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// timeout bounds one scrape.
const timeout = 10 * time.Second

// Series is one scrape: each sample's value by its series.
type Series map[string]float64

// Scrape reads the metrics page at url (".../metrics"); the test fails if
// it cannot.
func Scrape(t testing.TB, url string) Series {
	t.Helper()
	resp, err := (&http.Client{Timeout: timeout}).Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", url)
	out := Series{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, "a sample without a value: %q", line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, "sample %q", line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// Get is the value of one series; the test fails if the scrape lacks it
// (an absent series is not a zero).
func (s Series) Get(t testing.TB, series string) float64 {
	t.Helper()
	v, ok := s[series]
	require.True(t, ok, "no series %s in the scrape", series)
	return v
}

// Names is the set of metric names the scrape has samples of.
func (s Series) Names() map[string]bool {
	out := map[string]bool{}
	for series := range s {
		name, _, _ := strings.Cut(series, "{")
		out[name] = true
	}
	return out
}
