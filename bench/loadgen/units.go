package loadgen

import (
	"math"
	"strconv"
)

// sig3 renders v with three significant digits in plain decimal notation
// (never an exponent): 0.0123, 1.23, 12.3, 123, 1230.
func sig3(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	decimals := func(x float64) int { return 2 - int(math.Floor(math.Log10(math.Abs(x)))) }
	d := decimals(v)
	// Rounding may carry into a new digit (9.996 -> 10.0): decide the
	// decimals again from the rounded value.
	r := roundTo(v, d)
	if r != 0 {
		d = decimals(r)
		r = roundTo(v, d)
	}
	return strconv.FormatFloat(r, 'f', max(d, 0), 64)
}

func roundTo(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

// HumanMs renders a latency given in milliseconds in the unit a person
// reads best, with three significant digits: 850µs, 12.3ms, 11.3s.
func HumanMs(ms float64) string {
	// Round first, so 999.6ms reads 1.00s rather than 1000ms.
	if r, err := strconv.ParseFloat(sig3(ms), 64); err == nil {
		ms = r
	}
	switch {
	case ms == 0:
		return "0ms"
	case math.Abs(ms) < 1:
		return sig3(ms*1000) + "µs"
	case math.Abs(ms) < 1000:
		return sig3(ms) + "ms"
	}
	return sig3(ms/1000) + "s"
}

// humanRate renders a rate per second with one decimal: rates are counts
// over a known time and read better unrounded (368.1/s, 1500.0/s).
func humanRate(perSecond float64) string {
	return strconv.FormatFloat(perSecond, 'f', 1, 64) + "/s"
}

// percent renders n of total as a percentage with up to 3 significant digits.
func percent(n, total uint64) string {
	if total == 0 {
		return "-"
	}
	return sig3(100*float64(n)/float64(total)) + "%"
}

// humanCount renders large counts with a k, M or G suffix and three
// significant digits: 65.5k, 7.51M.
func humanCount(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return sig3(v/1e9) + "G"
	case a >= 1e6:
		return sig3(v/1e6) + "M"
	case a >= 1e4:
		return sig3(v/1e3) + "k"
	}
	return sig3(v)
}
