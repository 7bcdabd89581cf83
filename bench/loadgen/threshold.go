package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrThreshold is wrapped by every threshold parse error.
var ErrThreshold = errors.New("invalid threshold")

// Threshold is one pass/fail criterion on a run's summary, written k6
// style: `p99<50ms`, `tls.p90<=5ms`, `errors<0.1%`, `errors==0` is not
// supported (use `errors<1`), `rate>=200` (completed sessions per second).
//
// Metrics: min, mean (or avg), max, pN (p50, p99.9, ...) on the latency of
// completed sessions, or on one phase with a prefix (connect., tls.,
// hello., solve., verify., body., done.); and the session counts errors,
// completed, injected, unfinished (a plain number is a count, N% a share
// of all sessions), rate (completed sessions per second).
type Threshold struct {
	Expr   string  // as written
	Phase  string  // "" for the whole session
	Metric string  // "p", "min", "mean", "max", or a count metric
	Pct    float64 // the percentile for Metric "p"
	Op     string  // <, <=, >, >=
	Value  float64 // ms for latencies, count, percent or rate
	IsPct  bool    // Value is a percentage of all sessions
}

// ThresholdResult is a threshold checked against a summary.
type ThresholdResult struct {
	Threshold string `json:"threshold"`
	OK        bool   `json:"ok"`
	// Observed is the value the threshold was checked against, in the
	// threshold's own unit; Detail says it in words.
	Observed float64 `json:"observed"`
	Detail   string  `json:"detail"`
}

var countMetrics = map[string]bool{"errors": true, "completed": true, "injected": true, "unfinished": true, "rate": true}

// ParseThreshold parses one threshold expression.
func ParseThreshold(s string) (Threshold, error) {
	t := Threshold{Expr: s}
	expr := strings.ReplaceAll(s, " ", "")
	i := strings.IndexAny(expr, "<>")
	if i <= 0 {
		return t, fmt.Errorf("%w %q: want METRIC<VALUE, e.g. p99<50ms or errors<0.1%%", ErrThreshold, s)
	}
	name, rest := strings.ToLower(expr[:i]), expr[i:]
	if strings.HasSuffix(name, "avg") { // k6's name for the mean
		name = strings.TrimSuffix(name, "avg") + "mean"
	}
	t.Op = rest[:1]
	rest = rest[1:]
	if strings.HasPrefix(rest, "=") {
		t.Op += "="
		rest = rest[1:]
	}
	if rest == "" {
		return t, fmt.Errorf("%w %q: no value after %s", ErrThreshold, s, t.Op)
	}
	if ph, m, ok := strings.Cut(name, "."); ok {
		_, pctErr := strconv.ParseFloat(strings.TrimPrefix(name, "p"), 64)
		switch {
		case phaseIndex(ph) >= 0:
			t.Phase, name = ph, m
		case !strings.HasPrefix(name, "p") || pctErr != nil:
			return t, fmt.Errorf("%w %q: unknown phase %q (want one of %s)", ErrThreshold, s, ph, strings.Join(phaseNames[:], ", "))
		}
	}
	switch {
	case name == "min" || name == "mean" || name == "max":
		t.Metric = name
	case strings.HasPrefix(name, "p") && len(name) > 1:
		p, err := strconv.ParseFloat(name[1:], 64)
		if err != nil || p <= 0 || p > 100 || math.IsNaN(p) {
			return t, fmt.Errorf("%w %q: percentile %q must be a number in (0, 100]", ErrThreshold, s, name[1:])
		}
		t.Metric, t.Pct = "p", p
	case countMetrics[name]:
		if t.Phase != "" {
			return t, fmt.Errorf("%w %q: %s applies to whole sessions, not a phase", ErrThreshold, s, name)
		}
		t.Metric = name
	default:
		return t, fmt.Errorf("%w %q: unknown metric %q (want pN, min, mean, max, errors, completed, injected, unfinished or rate)", ErrThreshold, s, name)
	}
	if countMetrics[t.Metric] {
		num := rest
		if strings.HasSuffix(num, "%") && t.Metric != "rate" {
			t.IsPct, num = true, strings.TrimSuffix(num, "%")
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || t.IsPct && v > 100 {
			return t, fmt.Errorf("%w %q: %q is not a count, a percentage or a rate", ErrThreshold, s, rest)
		}
		t.Value = v
		return t, nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d < 0 {
		return t, fmt.Errorf("%w %q: %q is not a duration like 50ms or 1.5s", ErrThreshold, s, rest)
	}
	t.Value = float64(d) / float64(time.Millisecond)
	return t, nil
}

func (t Threshold) holds(observed float64) bool {
	switch t.Op {
	case "<":
		return observed < t.Value
	case "<=":
		return observed <= t.Value
	case ">":
		return observed > t.Value
	}
	return observed >= t.Value
}

// Check evaluates t against s.
func (t Threshold) Check(s *Summary) ThresholdResult {
	r := ThresholdResult{Threshold: t.Expr}
	if countMetrics[t.Metric] {
		c := s.Counts
		var n uint64
		switch t.Metric {
		case "errors":
			n = c.Errors()
		case "completed":
			n = c.Completed
		case "injected":
			n = c.InjectedFail
		case "unfinished":
			n = c.Unfinished
		case "rate":
			r.Observed = s.CompletedPerSecond
			r.OK = t.holds(r.Observed)
			r.Detail = "completed " + humanRate(r.Observed)
			return r
		}
		r.Observed = float64(n)
		r.Detail = fmt.Sprintf("%s %d of %d sessions", t.Metric, n, c.Total())
		if t.IsPct {
			if c.Total() == 0 {
				r.Detail = "no sessions to measure " + t.Metric + " on"
				return r
			}
			r.Observed = 100 * float64(n) / float64(c.Total())
			r.Detail = fmt.Sprintf("%s %s (%d of %d sessions)", t.Metric, percent(n, c.Total()), n, c.Total())
		}
		r.OK = t.holds(r.Observed)
		return r
	}
	l, what := s.Latency, "completed sessions"
	if t.Phase != "" {
		what = "phase " + t.Phase
		l = Latency{}
		for _, p := range s.Phases {
			if p.Phase == t.Phase {
				l = p.Latency
			}
		}
	}
	if l.Count == 0 {
		r.Detail = "no " + what + " to measure"
		return r
	}
	name := t.Metric
	switch t.Metric {
	case "min":
		r.Observed = l.Min
	case "mean":
		r.Observed = l.Mean
	case "max":
		r.Observed = l.Max
	default:
		name = "p" + strconv.FormatFloat(t.Pct, 'f', -1, 64)
		r.Observed = l.quantile(t.Pct)
	}
	r.OK = t.holds(r.Observed)
	r.Detail = fmt.Sprintf("%s of %s %s", name, what, HumanMs(r.Observed))
	return r
}
