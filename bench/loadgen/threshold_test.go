package loadgen

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in   string
		want Threshold
		err  string
	}{
		{in: "p99<50ms", want: Threshold{Metric: "p", Pct: 99, Op: "<", Value: 50}},
		{in: "p99.9 <= 1.5s", want: Threshold{Metric: "p", Pct: 99.9, Op: "<=", Value: 1500}},
		{in: "tls.p90<5ms", want: Threshold{Phase: "tls", Metric: "p", Pct: 90, Op: "<", Value: 5}},
		{in: "solve.max<2s", want: Threshold{Phase: "solve", Metric: "max", Op: "<", Value: 2000}},
		{in: "mean<500us", want: Threshold{Metric: "mean", Op: "<", Value: 0.5}},
		{in: "avg<500us", want: Threshold{Metric: "mean", Op: "<", Value: 0.5}},
		{in: "TLS.P99<2s", want: Threshold{Phase: "tls", Metric: "p", Pct: 99, Op: "<", Value: 2000}},
		{in: "errors<0.1%", want: Threshold{Metric: "errors", Op: "<", Value: 0.1, IsPct: true}},
		{in: "errors<1", want: Threshold{Metric: "errors", Op: "<", Value: 1}},
		{in: "completed>=95%", want: Threshold{Metric: "completed", Op: ">=", Value: 95, IsPct: true}},
		{in: "rate>200", want: Threshold{Metric: "rate", Op: ">", Value: 200}},
		{in: "p99", err: "want METRIC<VALUE"},
		{in: "<5ms", err: "want METRIC<VALUE"},
		{in: "p99<", err: "no value"},
		{in: "p99<fast", err: "not a duration"},
		{in: "p99<-5ms", err: "not a duration"},
		{in: "p0<5ms", err: "percentile"},
		{in: "p101<5ms", err: "percentile"},
		{in: "pNaN<5ms", err: "percentile"},
		{in: "latency<5ms", err: "unknown metric"},
		{in: "dns.p99<5ms", err: "unknown phase"},
		{in: "tls.errors<1", err: "whole sessions"},
		{in: "errors<150%", err: "not a count"},
		{in: "errors<lots", err: "not a count"},
		{in: "rate>5%", err: "not a count"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseThreshold(tc.in)
			if tc.err != "" {
				require.ErrorIs(t, err, ErrThreshold)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			tc.want.Expr = tc.in
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestThresholdCheck(t *testing.T) {
	s := &Summary{
		Counts:             Counts{Completed: 990, TLSErrors: 10},
		CompletedPerSecond: 99,
		Latency:            Latency{Count: 990, Min: 1, Mean: 5, P50: 4, P90: 8, P99: 40, P999: 60, Max: 80},
		Phases:             []PhaseLatency{{Phase: "tls", Latency: Latency{Count: 1000, P90: 3, Max: 9}}},
	}
	tests := []struct {
		expr   string
		ok     bool
		detail string
	}{
		{"p99<50ms", true, "p99 of completed sessions 40.0ms"},
		{"p99<40ms", false, "p99 of completed sessions 40.0ms"},
		{"p99<=40ms", true, ""},
		{"max<1s", true, "max of completed sessions 80.0ms"},
		{"tls.p90<2ms", false, "p90 of phase tls 3.00ms"},
		{"body.p90<2ms", false, "no phase body to measure"},
		{"errors<=1%", true, "errors 1.00% (10 of 1000 sessions)"},
		{"errors<1%", false, ""},
		{"errors<1.5%", true, ""},
		{"errors<10", false, "errors 10 of 1000 sessions"},
		{"completed>=99%", true, ""},
		{"rate>100", false, "completed 99.0/s"},
	}
	for _, tc := range tests {
		th, err := ParseThreshold(tc.expr)
		require.NoError(t, err)
		r := th.Check(s)
		assert.Equal(t, tc.ok, r.OK, tc.expr)
		assert.Contains(t, r.Detail, tc.detail, tc.expr)
	}
	th, err := ParseThreshold("p99<1s")
	require.NoError(t, err)
	assert.False(t, th.Check(&Summary{}).OK, "no completed sessions: a latency threshold cannot hold")
}

func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"p99<50ms", "errors<0.1%", "tls.p90<=5ms", "rate>=1e3", "p99.99<1h", "unfinished<1", "x.y<z", "p<", "<<", "p9%<1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			if !strings.Contains(err.Error(), "invalid threshold") {
				t.Fatalf("error %q does not wrap ErrThreshold", err)
			}
			return
		}
		if th.Value < 0 || th.Op == "" || th.Metric == "" {
			t.Fatalf("%q parsed to %+v", s, th)
		}
		// A parsed threshold checks any summary without panicking.
		_ = th.Check(&Summary{Counts: Counts{Completed: 1}, Latency: Latency{Count: 1, P50: 1}})
	})
}
