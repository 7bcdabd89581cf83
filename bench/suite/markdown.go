package suite

import (
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed templates/benchmarks.md.tmpl
var benchmarksTemplate string

var benchmarksMD = template.Must(template.New("benchmarks.md").
	Funcs(template.FuncMap{"join": strings.Join, "rounds": rounds}).Parse(benchmarksTemplate))

// mdView is what the template shows: the report, and every table as rows
// of formatted cells.
type mdView struct {
	*Report
	Date         string
	Targets      []Target
	Context      []string
	Light        bool
	QuietName    string
	NginxVersion string
	Sessions     [][]string
	Park         [][]string
	PoW          *powView
	Timers       [][]string
	Handshakes   [][]string
	Cores        [][]string
	Transports   *transportsView
	Marker       string
}

type powView struct {
	TokenLen, SuffixLen, Rounds int
	Duration                    time.Duration
	Rows                        [][]string
}

// HandWrittenMarker is the line of BENCHMARKS.md after which the file is
// written by hand (figures from `go test -bench`, `make bench-hostile` and
// the like): Render ends with it, and `bench suite --out` replaces only
// what is above it, keeping everything below as the file had it.
const HandWrittenMarker = "<!-- hand-written below: make bench keeps this part -->"

// KeepHandWritten returns rendered (Render's output, which ends with the
// marker line) followed by what came after the marker line in previous,
// the file being replaced ("" when there is none). kept is false when
// previous has content but no marker line: nothing of it can be told
// apart as hand-written, so none of it is kept.
func KeepHandWritten(rendered, previous string) (out string, kept bool) {
	at, ok := markerEnd(rendered)
	if !ok {
		// Render always ends with the marker: this is a bug here.
		panic("KeepHandWritten: the rendered report has no marker line")
	}
	rendered = rendered[:at]
	if previous == "" {
		return rendered, true
	}
	from, ok := markerEnd(previous)
	if !ok {
		return rendered, false
	}
	return rendered + previous[from:], true
}

// markerEnd returns the offset just past the first line of s that is
// HandWrittenMarker (surrounding spaces and a CR aside).
func markerEnd(s string) (int, bool) {
	for off := 0; off < len(s); {
		line := s[off:]
		next := len(s)
		if i := strings.IndexByte(line, '\n'); i >= 0 {
			line, next = line[:i], off+i+1
		}
		if strings.TrimSpace(line) == HandWrittenMarker {
			return next, true
		}
		off = next
	}
	return 0, false
}

// Render writes BENCHMARKS.md for a report, ending with HandWrittenMarker.
func Render(r *Report) string {
	v := mdView{
		Report: r, Date: r.Date.Format("2006-01-02 15:04 MST"), Targets: Targets(*r), Context: handshakeShare(r),
		Light:     r.Params.LightWorkers > 0 && r.Params.LightWorkers != r.Params.Workers,
		QuietName: NameTlslpdQuiet, NginxVersion: nginxVersion(r.Nginx),
		Sessions: sessionsCells(r), Park: parkCells(r), PoW: powCells(r), Timers: timerCells(r), Handshakes: handshakeCells(r),
		Cores: coresCells(r), Transports: transportsCellsView(r), Marker: HandWrittenMarker,
	}
	for i := range v.Targets {
		if v.Targets[i].Got == "" {
			v.Targets[i].Got = "—"
		}
	}
	var b strings.Builder
	if err := benchmarksMD.Execute(&b, v); err != nil {
		// The template is fixed and its data are plain values: an error
		// here is a bug in this package.
		panic(fmt.Sprintf("render BENCHMARKS.md: %v", err))
	}
	return b.String()
}

func f0(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", v)
}

func f3(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", v)
}

func sessionsCells(r *Report) [][]string {
	var rows [][]string
	for _, row := range r.Sessions {
		rr, rc, perRound := math.NaN(), math.NaN(), "—"
		if base, ok := findSessions(r.Sessions, NameBaseline, row.Workers); ok {
			rr, rc = Ratio(row.PerSecond(), base.PerSecond()), Ratio(row.CPUPerSession(), base.CPUPerSession())
			if row.Server != NameBaseline {
				perRound = spread(pairRatios(row.RoundCPU, base.RoundCPU))
			}
		}
		rows = append(rows, []string{row.Server, fmt.Sprint(row.Workers), fmt.Sprint(row.Sessions()), fmt.Sprint(row.Completed),
			fmt.Sprint(row.Injected), fmt.Sprint(row.Errors), f0(row.PerSecond()), FormatRatio(rr),
			f3(row.CPUPerSession()), FormatRatio(rc), perRound, percent(row.IdleShare()),
			fmt.Sprintf("%.1f", row.P50ms), fmt.Sprintf("%.1f", row.P99ms)})
	}
	return rows
}

// pairRatios divides each round's figure by the same round's baseline
// figure; rounds missing on either side are left out.
func pairRatios(xs, base []float64) []float64 {
	var out []float64
	for i := range min(len(xs), len(base)) {
		if q := Ratio(xs[i], base[i]); !math.IsNaN(q) {
			out = append(out, q)
		}
	}
	return out
}

// spread shows ratios as "median (min–max)".
func spread(qs []float64) string {
	if len(qs) == 0 {
		return "—"
	}
	s := slices.Sorted(slices.Values(qs))
	mid := s[len(s)/2]
	if len(s)%2 == 0 {
		mid = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%s (%s–%s)", FormatRatio(mid), FormatRatio(s[0]), FormatRatio(s[len(s)-1]))
}

func percent(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

func kib(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", v/1024)
}

func goroutines(n int) string {
	if n < 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

func parkCells(r *Report) [][]string {
	base, hasBase := findPark(r.Park, NameBaseline)
	var rows [][]string
	for _, row := range r.Park {
		ratio := math.NaN()
		if hasBase {
			ratio = Ratio(row.RSSPerSession(), base.RSSPerSession())
		}
		settled := "yes"
		if !row.Settled {
			settled = "no"
		}
		rows = append(rows, []string{row.Server, fmt.Sprintf("%d / %d", row.Parked, row.Requested),
			fmt.Sprintf("%.1f", mib(row.Before.RSSBytes)), fmt.Sprintf("%.1f", mib(row.During.RSSBytes)), fmt.Sprintf("%.1f", mib(row.After.RSSBytes)),
			kib(row.RSSPerSession()), FormatRatio(ratio),
			goroutines(row.Before.Goroutines) + " / " + goroutines(row.During.Goroutines) + " / " + goroutines(row.After.Goroutines),
			fmt.Sprintf("%d / %d / %d", row.Before.FDs, row.During.FDs, row.After.FDs), fmt.Sprint(row.Dropped), settled})
	}
	return rows
}

func powCells(r *Report) *powView {
	res := r.PoW
	if res == nil {
		return nil
	}
	return &powView{TokenLen: res.TokenLen, SuffixLen: res.SuffixLen, Rounds: r.Params.PoWRounds, Duration: r.Params.PoWDuration,
		Rows: [][]string{
			{fmt.Sprint(res.VerifyOne.Goroutines), fmt.Sprintf("%.3g", res.VerifyOne.PerSecond), fmt.Sprintf("%.3g", res.SHA256One.PerSecond), FormatRatio(res.RatioOne)},
			{fmt.Sprint(res.VerifyAll.Goroutines), fmt.Sprintf("%.3g", res.VerifyAll.PerSecond), fmt.Sprintf("%.3g", res.SHA256All.PerSecond), FormatRatio(res.RatioAll)},
		}}
}

func timerCells(r *Report) [][]string {
	base := math.NaN()
	for _, t := range r.Timers {
		if strings.Contains(t.Name, "AfterFunc") {
			base = t.OpsPerSec
		}
	}
	var rows [][]string
	for _, t := range r.Timers {
		rows = append(rows, []string{t.Name, fmt.Sprintf("%.1f", t.NsPerOp), fmt.Sprintf("%.3g", t.OpsPerSec), fmt.Sprint(t.AllocsPerOp), FormatRatio(Ratio(t.OpsPerSec, base))})
	}
	return rows
}

func handshakeCells(r *Report) [][]string {
	// Each row is compared with the baseline in its own client-auth mode.
	bases := map[string]HandshakeRow{}
	for _, h := range r.Handshakes {
		if h.Server == NameBaseline || h.Server == NameBaselineAny {
			bases[h.Server] = h
		}
	}
	var rows [][]string
	for _, h := range r.Handshakes {
		rr, rc := math.NaN(), math.NaN()
		baseName := NameBaseline
		if h.Server == NameTlslpdAny || h.Server == NameBaselineAny {
			baseName = NameBaselineAny
		}
		if base, ok := bases[baseName]; ok {
			rr, rc = Ratio(h.PerSecond(), base.PerSecond()), Ratio(h.CPUPerHandshake(), base.CPUPerHandshake())
		}
		rows = append(rows, []string{h.Server, fmt.Sprint(h.OK), fmt.Sprint(h.Errors), f0(h.PerSecond()), rates(h.RoundRates),
			FormatRatio(rr), f3(h.CPUPerHandshake()), FormatRatio(rc)})
	}
	return rows
}

func nginxVersion(v string) string {
	if v == "" {
		return "not installed"
	}
	return v
}

// rates lists per-round rates, e.g. "640 / 702 / 688".
func rates(rs []float64) string {
	if len(rs) == 0 {
		return "—"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = f0(r)
	}
	return strings.Join(parts, " / ")
}

// handshakeShare puts the session figures in context: how much of a
// session's server CPU is the bare mTLS handshake (section 5), for each Go
// server ("tlslpd 0.500 of 5.000 ms (10%)"). Empty when either measurement
// is missing.
func handshakeShare(r *Report) []string {
	var parts []string
	for _, name := range []string{NameTlslpd, NameBaseline} {
		s, ok := findSessions(r.Sessions, name, r.Params.Workers)
		if !ok {
			continue
		}
		for _, h := range r.Handshakes {
			if h.Server != name {
				continue
			}
			share := Ratio(h.CPUPerHandshake(), s.CPUPerSession())
			if math.IsNaN(share) {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.3f of %.3f ms (%.0f%%)", name, h.CPUPerHandshake(), s.CPUPerSession(), 100*share))
		}
	}
	return parts
}

// rounds is "1 round" or "N rounds", for the report's prose.
func rounds(n int) string {
	if n == 1 {
		return "1 round"
	}
	return strconv.Itoa(n) + " rounds"
}
