package loadgen

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "embed"

	"tlslpd/protocol"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH         = 1000.0, 300.0
	padL, padR, padT, padB = 70.0, 20.0, 44.0, 44.0
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
	spectrumMaxNines       = 5.0 // x axis ends at 99.999%
	// maxMarkers: beyond this many intervals, lines get no point markers.
	maxMarkers = 120
)

// Colours, one per series, used by the legends too.
const (
	colourCompleted = "#2b6cb0"
	colourInjected  = "#a0aec0"
	colourError     = "#c53030"
	colourUnfinish  = "#dd6b20"
	colourOffered   = "#2f855a"
	colourP50       = "#2b6cb0"
	colourP90       = "#805ad5"
	colourP99       = "#c53030"
)

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"human": HumanMs,
	"rate":  humanRate,
	"sig3":  sig3,
	"count": humanCount,
	"unfinishedAt": func(at map[string]uint64) string {
		var parts []string
		for p := range numPhases {
			if n := at[phaseNames[p]]; n > 0 {
				parts = append(parts, fmt.Sprintf("%d in %s", n, phaseTitles[p]))
			}
		}
		return strings.Join(parts, ", ")
	},
	"percent": percent,
	"time":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"mul100":  func(f float64) float64 { return 100 * f },
	"pct": func(n, total uint64) float64 {
		if total == 0 {
			return 0
		}
		return 100 * float64(n) / float64(total)
	},
}).Parse(reportTemplate))

// reportPhase is a row of the per-phase table.
type reportPhase struct {
	PhaseLatency
	// Share of the time all sessions spent, by mean × count.
	Share float64
}

// WriteReport writes a self-contained HTML report of s: run parameters,
// outcomes, latency over time, throughput against the offered rate,
// errors, the percentile spectrum and the per-phase breakdown, as inline
// SVG and CSS so the file opens anywhere without network access.
func WriteReport(w io.Writer, s *Summary) error {
	var text strings.Builder
	if err := s.WriteText(&text); err != nil {
		return fmt.Errorf("report summary: %w", err)
	}
	var phases []reportPhase
	var totalMs float64
	for _, p := range s.Phases {
		totalMs += p.Latency.Mean * float64(p.Latency.Count)
	}
	for _, p := range s.Phases {
		share := 0.0
		if totalMs > 0 {
			share = p.Latency.Mean * float64(p.Latency.Count) / totalMs
		}
		phases = append(phases, reportPhase{p, share})
	}
	failLines := make([]ErrorCount, 0, len(s.FailLines))
	for l, n := range s.FailLines {
		kind := kindNames[kServerFail]
		if !protocol.IsFixedFail(l) {
			kind = kindNames[kInjectedFail] + " (normal)"
		}
		failLines = append(failLines, ErrorCount{Outcome: kind, Message: l, Count: n})
	}
	sort.Slice(failLines, func(i, j int) bool {
		if failLines[i].Count != failLines[j].Count {
			return failLines[i].Count > failLines[j].Count
		}
		return failLines[i].Message < failLines[j].Message
	})
	data := struct {
		S         *Summary
		Text      string
		Outcomes  any
		Total     uint64
		Phases    []reportPhase
		FailLines []ErrorCount
		Charts    []template.HTML
	}{
		S: s, Text: text.String(), Outcomes: s.outcomeRows(), Total: s.Counts.Total(),
		Phases: phases, FailLines: failLines,
	}
	// The SVG is built from numbers and escaped text only.
	for _, svg := range []string{latencyOverTimeSVG(s), throughputSVG(s), errorsSVG(s), inflightSVG(s), latencySVG(s)} {
		if svg != "" {
			data.Charts = append(data.Charts, template.HTML(svg)) //nolint:gosec // see above
		}
	}
	if err := reportTmpl.Execute(w, data); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func svgOpen(b *strings.Builder, id, title string) {
	fmt.Fprintf(b, `<svg id="%s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="100%%" role="img">`, id, chartW, chartH)
	fmt.Fprintf(b, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%g" y="20" font-size="16" font-weight="bold">%s</text>`, padL, html.EscapeString(title))
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#a0aec0"/>`, padL, padT, plotW, plotH)
}

type legendItem struct {
	colour, label string
	dashed, box   bool
}

// legend draws the series' keys in a row above the plot, right-aligned.
func legend(b *strings.Builder, items []legendItem) {
	x := padL + plotW
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		w := 7*float64(len([]rune(it.label))) + 34
		x -= w
		y := padT - 12.0
		if it.box {
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="16" height="10" fill="%s"/>`, x, y-5, it.colour)
		} else {
			dash := ""
			if it.dashed {
				dash = ` stroke-dasharray="6 4"`
			}
			fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"%s/>`, x, x+16, y, y, it.colour, dash)
		}
		fmt.Fprintf(b, `<text class="legend" x="%.1f" y="%.1f" font-size="12">%s</text>`, x+21, y+4, html.EscapeString(it.label))
	}
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten, for axis ticks.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func yTicks(b *strings.Builder, top float64, unit string, label func(float64) string) {
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		y := padT + plotH - plotH*float64(i)/4
		fmt.Fprintf(b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#e2e8f0"/>`, padL, padL+plotW, y, y)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" font-size="11" text-anchor="end">%s</text>`, padL-6, y+4, html.EscapeString(label(v)))
	}
	fmt.Fprintf(b, `<text x="14" y="%g" font-size="12" transform="rotate(-90 14 %g)" text-anchor="middle">%s</text>`,
		padT+plotH/2, padT+plotH/2, html.EscapeString(unit))
}

// timeAxis labels the x axis in seconds since the first interval's
// start; x maps an interval index to its position.
func timeAxis(b *strings.Builder, s *Summary, x func(i int) float64) {
	n := len(s.Intervals)
	step := max(1, int(math.Ceil(float64(n)/12)))
	first := s.Intervals[0].StartMs
	for i := 0; i < n; i += step {
		t := float64(s.Intervals[i].StartMs-first) / 1000
		fmt.Fprintf(b, `<text x="%.1f" y="%g" font-size="11" text-anchor="middle">%s</text>`, x(i), padT+plotH+16, strconv.FormatFloat(t, 'f', -1, 64))
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" font-size="12" text-anchor="middle">seconds since %s UTC (intervals of %s)</text>`,
		padL+plotW/2, padT+plotH+36, time.UnixMilli(first).UTC().Format("15:04:05"), html.EscapeString(HumanMs(intervalMs(s))))
}

func intervalMs(s *Summary) float64 {
	if len(s.Generators) > 0 {
		return float64(s.Generators[0].IntervalMs)
	}
	return 1000
}

func noData(b *strings.Builder, msg string) string {
	fmt.Fprintf(b, `<text x="%g" y="%g" font-size="14">%s</text></svg>`, padL+20, padT+40, html.EscapeString(msg))
	return b.String()
}

// fmtCount labels a count axis: three significant digits, no trailing zeros.
func fmtCount(v float64) string {
	r, err := strconv.ParseFloat(sig3(v), 64)
	if err != nil {
		return sig3(v)
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

func latencyOverTimeSVG(s *Summary) string {
	var b strings.Builder
	svgOpen(&b, "latency-over-time", "Latency of completed sessions over time")
	var top float64
	for _, iv := range s.Intervals {
		top = math.Max(top, iv.P99)
	}
	if top == 0 {
		return noData(&b, "no completed sessions")
	}
	top = niceMax(top)
	legend(&b, []legendItem{{colour: colourP50, label: "p50"}, {colour: colourP90, label: "p90"}, {colour: colourP99, label: "p99"}})
	yTicks(&b, top, "latency", HumanMs)
	n := len(s.Intervals)
	x := func(i int) float64 { return padL + plotW*(float64(i)+0.5)/float64(n) }
	timeAxis(&b, s, x)
	for _, series := range []struct {
		class, colour string
		v             func(IntervalSummary) float64
	}{
		{"p50", colourP50, func(iv IntervalSummary) float64 { return iv.P50 }},
		{"p90", colourP90, func(iv IntervalSummary) float64 { return iv.P90 }},
		{"p99", colourP99, func(iv IntervalSummary) float64 { return iv.P99 }},
	} {
		var pts []string
		lone := -1 // the interval of a run of one, which no line joins
		end := func() {
			switch {
			case len(pts) > 1:
				fmt.Fprintf(&b, `<polyline class="%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>`, series.class, series.colour, strings.Join(pts, " "))
			case len(pts) == 1 && n > maxMarkers:
				// Without markers, an interval between two without
				// completions would not be drawn at all.
				iv := s.Intervals[lone]
				fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="2" fill="%s"/>`, series.class, x(lone), padT+plotH-plotH*series.v(iv)/top, series.colour)
			}
			pts = pts[:0]
		}
		for i, iv := range s.Intervals {
			if iv.Completed == 0 {
				end()
				continue
			}
			y := padT + plotH - plotH*series.v(iv)/top
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y))
			lone = i
			if n > maxMarkers {
				continue // a long run's line speaks for itself
			}
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="2" fill="%s"><title>%s at %s: %s</title></circle>`,
				series.class, x(i), y, series.colour, series.class, html.EscapeString(time.UnixMilli(iv.StartMs).UTC().Format("15:04:05.000")), html.EscapeString(HumanMs(series.v(iv))))
		}
		end()
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// perSecond turns an interval's count into a rate.
func perSecond(n uint64, iv IntervalSummary) float64 {
	if iv.Seconds <= 0 {
		return 0
	}
	return float64(n) / iv.Seconds
}

func throughputSVG(s *Summary) string {
	var b strings.Builder
	svgOpen(&b, "throughput", "Sessions per second over time")
	if len(s.Intervals) == 0 || s.Park != nil {
		return noData(&b, "no sessions finished")
	}
	var peak float64
	for _, iv := range s.Intervals {
		peak = math.Max(peak, perSecond(iv.Completed+iv.Injected+iv.Failed+iv.Unfinished, iv))
		peak = math.Max(peak, perSecond(iv.Started, iv))
	}
	peak = math.Max(peak, s.Rate)
	top := niceMax(peak)
	items := []legendItem{
		{colour: colourCompleted, label: "completed", box: true}, {colour: colourInjected, label: "injected FAIL", box: true},
		{colour: colourError, label: "errors", box: true}, {colour: colourUnfinish, label: "unfinished", box: true},
		{colour: "#1a202c", label: "started"},
	}
	if s.Rate > 0 {
		items = append(items, legendItem{colour: colourOffered, label: "offered rate", dashed: true})
	}
	legend(&b, items)
	yTicks(&b, top, "sessions/s", fmtCount)
	n := float64(len(s.Intervals))
	bw := plotW / n
	timeAxis(&b, s, func(i int) float64 { return padL + bw*(float64(i)+0.5) })
	base := padT + plotH
	var started []string
	for i, iv := range s.Intervals {
		x := padL + bw*float64(i)
		w := math.Max(bw-1, 0.5)
		y := base
		for _, part := range []struct {
			class, colour string
			n             uint64
		}{
			{"completed", colourCompleted, iv.Completed}, {"injected", colourInjected, iv.Injected},
			{"failed", colourError, iv.Failed}, {"unfinished", colourUnfinish, iv.Unfinished},
		} {
			if part.n == 0 {
				continue
			}
			h := plotH * perSecond(part.n, iv) / top
			y -= h
			fmt.Fprintf(&b, `<rect class="%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>%s: %d %s (%s)</title></rect>`,
				part.class, x, y, w, h, part.colour, html.EscapeString(time.UnixMilli(iv.StartMs).UTC().Format("15:04:05")), part.n, part.class, html.EscapeString(humanRate(perSecond(part.n, iv))))
		}
		started = append(started, fmt.Sprintf("%.1f,%.1f", x+bw/2, base-plotH*perSecond(iv.Started, iv)/top))
	}
	if len(started) > 1 {
		fmt.Fprintf(&b, `<polyline class="started" fill="none" stroke="#1a202c" stroke-width="1.5" points="%s"/>`, strings.Join(started, " "))
	}
	if s.Rate > 0 {
		y := base - plotH*s.Rate/top
		fmt.Fprintf(&b, `<line class="offered" x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5" stroke-dasharray="6 4"><title>offered %s</title></line>`,
			padL, padL+plotW, y, y, colourOffered, html.EscapeString(humanRate(s.Rate)))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// errorsSVG charts errors and unfinished sessions per second on their own
// scale, so a few errors beside thousands of completions still show; it
// is left out when there were none.
func errorsSVG(s *Summary) string {
	var peak float64
	for _, iv := range s.Intervals {
		peak = math.Max(peak, math.Max(perSecond(iv.Failed, iv), perSecond(iv.Unfinished, iv)))
	}
	if peak == 0 {
		return ""
	}
	var b strings.Builder
	svgOpen(&b, "errors", "Errors per second over time")
	top := niceMax(peak)
	legend(&b, []legendItem{{colour: colourError, label: "errors"}, {colour: colourUnfinish, label: "unfinished"}})
	yTicks(&b, top, "sessions/s", fmtCount)
	n := len(s.Intervals)
	x := func(i int) float64 { return padL + plotW*(float64(i)+0.5)/float64(n) }
	timeAxis(&b, s, x)
	for _, series := range []struct {
		class, colour string
		v             func(IntervalSummary) uint64
	}{
		{"errors", colourError, func(iv IntervalSummary) uint64 { return iv.Failed }},
		{"unfinished", colourUnfinish, func(iv IntervalSummary) uint64 { return iv.Unfinished }},
	} {
		var pts []string
		for i, iv := range s.Intervals {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), padT+plotH-plotH*perSecond(series.v(iv), iv)/top))
		}
		fmt.Fprintf(&b, `<polyline class="%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>`, series.class, series.colour, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// inflightSVG charts the peak of sessions in flight per interval: the
// build-up an overload shows before its timeouts fire.
func inflightSVG(s *Summary) string {
	var peak int64
	for _, iv := range s.Intervals {
		peak = max(peak, iv.PeakInflight)
	}
	if peak == 0 || s.Park != nil {
		return ""
	}
	var b strings.Builder
	svgOpen(&b, "inflight", "Sessions in flight over time")
	top := niceMax(float64(peak))
	legend(&b, []legendItem{{colour: colourP90, label: "peak in flight"}})
	yTicks(&b, top, "sessions", fmtCount)
	n := len(s.Intervals)
	x := func(i int) float64 { return padL + plotW*(float64(i)+0.5)/float64(n) }
	timeAxis(&b, s, x)
	var pts []string
	for i, iv := range s.Intervals {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), padT+plotH-plotH*float64(iv.PeakInflight)/top))
	}
	fmt.Fprintf(&b, `<polyline class="inflight" fill="none" stroke="%s" stroke-width="2" points="%s"/>`, colourP90, strings.Join(pts, " "))
	b.WriteString(`</svg>`)
	return b.String()
}

// nines maps a percentile to the log "number of nines" axis.
func nines(p float64) float64 {
	if p >= 100 {
		return spectrumMaxNines
	}
	return math.Min(spectrumMaxNines, math.Log10(100/(100-p)))
}

func latencySVG(s *Summary) string {
	var b strings.Builder
	svgOpen(&b, "latency-spectrum", "Latency by percentile (completed sessions)")
	if len(s.Spectrum) == 0 {
		return noData(&b, "no completed sessions")
	}
	legend(&b, []legendItem{{colour: colourCompleted, label: "session latency"}})
	top := niceMax(s.Latency.Max)
	yTicks(&b, top, "latency", HumanMs)
	for i, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		x := padL + plotW*float64(i)/spectrumMaxNines
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#e2e8f0"/>`, x, x, padT, padT+plotH)
		anchor := "middle"
		if i == int(spectrumMaxNines) {
			anchor = "end" // the last label would run past the chart's edge
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="%s">%s</text>`, x, padT+plotH+16, anchor, label)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="middle">percentile (each step one more nine)</text>`, padL+plotW/2, padT+plotH+36)
	var pts []string
	for _, p := range s.Spectrum {
		x := padL + plotW*nines(p.Percentile)/spectrumMaxNines
		y := padT + plotH - plotH*p.Ms/top
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	fmt.Fprintf(&b, `<polyline class="spectrum" fill="none" stroke="%s" stroke-width="2" points="%s"/>`, colourCompleted, strings.Join(pts, " "))
	for _, p := range s.Spectrum {
		x := padL + plotW*nines(p.Percentile)/spectrumMaxNines
		y := padT + plotH - plotH*p.Ms/top
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>p%g: %s</title></circle>`, x, y, colourCompleted, p.Percentile, html.EscapeString(HumanMs(p.Ms)))
	}
	b.WriteString(`</svg>`)
	return b.String()
}
