package loadgen

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH               = 720.0, 320.0
	padL, padR, padT, padB       = 70.0, 20.0, 36.0, 48.0
	plotW, plotH                 = chartW - padL - padR, chartH - padT - padB
	spectrumMaxNines             = 5.0 // x axis ends at 99.999%
	colourCompleted, colourError = "#2b6cb0", "#c53030"
	colourInjected               = "#a0aec0"
)

// WriteReport writes a self-contained HTML report of s: a summary table, a
// latency percentile spectrum and sessions per second over time, as inline
// SVG so the file opens anywhere without network access.
func WriteReport(w io.Writer, s *Summary) error {
	var text strings.Builder
	if err := s.WriteText(&text); err != nil {
		return fmt.Errorf("report summary: %w", err)
	}
	data := struct {
		S          *Summary
		Text       string
		Latency    template.HTML
		Throughput template.HTML
	}{
		S:          s,
		Text:       text.String(),
		Latency:    template.HTML(latencySVG(s)),    // built from numbers and escaped text only
		Throughput: template.HTML(throughputSVG(s)), // idem
	}
	tmpl, err := template.New("report").Parse(reportHTML)
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	if err := tmpl.Execute(w, data); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

const reportHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tlslpd load report: {{.S.Target}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:800px;color:#1a202c}
pre{background:#f7fafc;padding:1em;overflow-x:auto;white-space:pre-wrap;font-size:13px}
figure{margin:1.5em 0} figcaption{font-size:14px;color:#4a5568}
svg text{font-family:system-ui,sans-serif}
</style></head><body>
<h1>tlslpd load report</h1>
<p>Target <b>{{.S.Target}}</b>, {{.S.Mode}} model, concurrency {{.S.Concurrency}}, {{printf "%.2f" .S.DurationSeconds}} s,
{{printf "%.1f" .S.CompletedPerSecond}} completed sessions/s.</p>
<pre>{{.Text}}</pre>
<figure>{{.Latency}}<figcaption>Latency of completed sessions by percentile. The x axis stretches the tail:
each step is one more nine (90%, 99%, 99.9%...).{{if eq .S.Mode "open"}} Open model: latency runs from each session's intended start.{{end}}</figcaption></figure>
<figure>{{.Throughput}}<figcaption>Sessions finished in each second of the run: completed (blue), ended by the server's injected
<code>FAIL &lt;random_string&gt;</code> — a normal protocol outcome — (grey), and failed (red: the server's other FAIL lines, TLS, timeout, connect and protocol errors).</figcaption></figure>
</body></html>
`

func svgOpen(b *strings.Builder, id, title string) {
	fmt.Fprintf(b, `<svg id="%s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img">`,
		id, chartW, chartH, chartW, chartH)
	fmt.Fprintf(b, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(b, `<text x="%g" y="22" font-size="16" font-weight="bold">%s</text>`, padL, html.EscapeString(title))
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#a0aec0"/>`, padL, padT, plotW, plotH)
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten, for axis ticks.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func yTicks(b *strings.Builder, top float64, unit string) {
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		y := padT + plotH - plotH*float64(i)/4
		fmt.Fprintf(b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#e2e8f0"/>`, padL, padL+plotW, y, y)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" font-size="11" text-anchor="end">%s</text>`, padL-6, y+4, html.EscapeString(fmtNum(v)))
	}
	fmt.Fprintf(b, `<text x="14" y="%g" font-size="12" transform="rotate(-90 14 %g)" text-anchor="middle">%s</text>`,
		padT+plotH/2, padT+plotH/2, html.EscapeString(unit))
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
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
	svgOpen(&b, "latency-spectrum", "Latency by percentile (ms)")
	if len(s.Spectrum) == 0 {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="14">no completed sessions</text></svg>`, padL+20, padT+40)
		return b.String()
	}
	top := niceMax(s.Latency.Max)
	yTicks(&b, top, "latency (ms)")
	for i, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		x := padL + plotW*float64(i)/spectrumMaxNines
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#e2e8f0"/>`, x, x, padT, padT+plotH)
		anchor := "middle"
		if i == int(spectrumMaxNines) {
			anchor = "end" // the last label would run past the chart's edge
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="%s">%s</text>`, x, padT+plotH+16, anchor, label)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="middle">percentile</text>`, padL+plotW/2, padT+plotH+36)
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
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>p%g: %.3f ms</title></circle>`, x, y, colourCompleted, p.Percentile, p.Ms)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func throughputSVG(s *Summary) string {
	var b strings.Builder
	svgOpen(&b, "throughput", "Sessions per second over time")
	if len(s.PerSecond) == 0 {
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="14">no sessions finished</text></svg>`, padL+20, padT+40)
		return b.String()
	}
	var peak uint64
	for _, sec := range s.PerSecond {
		peak = max(peak, sec.Completed+sec.Injected+sec.Failed)
	}
	top := niceMax(float64(peak))
	yTicks(&b, top, "sessions/s")
	n := float64(len(s.PerSecond))
	bw := plotW / n
	step := max(1, int(math.Ceil(n/10)))
	for i, sec := range s.PerSecond {
		x := padL + bw*float64(i)
		hc := plotH * float64(sec.Completed) / top
		hi := plotH * float64(sec.Injected) / top
		hf := plotH * float64(sec.Failed) / top
		base := padT + plotH
		w := math.Max(bw-1, 0.5)
		fmt.Fprintf(&b, `<rect class="completed" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>second %d: %d completed</title></rect>`,
			x, base-hc, w, hc, colourCompleted, sec.Second, sec.Completed)
		if sec.Injected > 0 {
			fmt.Fprintf(&b, `<rect class="injected" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>second %d: %d ended by injected FAIL</title></rect>`,
				x, base-hc-hi, w, hi, colourInjected, sec.Second, sec.Injected)
		}
		if sec.Failed > 0 {
			fmt.Fprintf(&b, `<rect class="failed" x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>second %d: %d failed</title></rect>`,
				x, base-hc-hi-hf, w, hf, colourError, sec.Second, sec.Failed)
		}
		if i%step == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%g" font-size="11" text-anchor="middle">%d</text>`, x+bw/2, base+16, sec.Second)
		}
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" font-size="12" text-anchor="middle">second of the run</text>`, padL+plotW/2, padT+plotH+36)
	b.WriteString(`</svg>`)
	return b.String()
}
