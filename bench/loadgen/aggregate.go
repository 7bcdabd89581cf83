package loadgen

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"tlslpd/version"
)

// aggregator turns intervals, fed in time order, into a Summary. A single
// run feeds it as it goes; `bench report` feeds it intervals merged across
// load generators, so both summaries come from one code path.
type aggregator struct {
	totals    IntervalCounts
	hists     [numTags]*hdrhistogram.Histogram
	intervals []IntervalSummary
}

func newAggregator() *aggregator {
	a := &aggregator{}
	for i := range a.hists {
		a.hists[i] = newHist()
	}
	return a
}

func (a *aggregator) add(iv *interval) {
	a.totals.merge(&iv.IntervalCounts)
	a.totals.PeakInflight = max(a.totals.PeakInflight-iv.PeakInflight, iv.PeakInflight) // a peak, not a sum
	for i, h := range iv.hists {
		a.hists[i].Merge(h)
	}
	c := iv.Counts
	s := IntervalSummary{
		StartMs: iv.StartMs, Seconds: float64(iv.CoveredMs) / 1000,
		Started: iv.Started, Completed: c.Completed, Injected: c.InjectedFail, Failed: c.Errors(), Unfinished: c.Unfinished,
		PeakInflight: iv.PeakInflight,
	}
	if h := iv.hists[tagSession]; h.TotalCount() > 0 {
		s.P50, s.P90, s.P99 = usToMs(h.ValueAtQuantile(50)), usToMs(h.ValueAtQuantile(90)), usToMs(h.ValueAtQuantile(99))
	}
	if iv.SolveNs > 0 {
		s.SolveHashesPerSecond = float64(iv.Hashes) / (float64(iv.SolveNs) / 1e9)
	}
	a.intervals = append(a.intervals, s)
}

func usToMs(us int64) float64 { return float64(us) / 1000 }

func latencyOf(h *hdrhistogram.Histogram) Latency {
	n := h.TotalCount()
	if n == 0 {
		return Latency{}
	}
	return Latency{
		Count: uint64(n),
		Min:   usToMs(h.Min()),
		Mean:  math.Round(h.Mean()) / 1000,
		P50:   usToMs(h.ValueAtQuantile(50)),
		P90:   usToMs(h.ValueAtQuantile(90)),
		P99:   usToMs(h.ValueAtQuantile(99)),
		P999:  usToMs(h.ValueAtQuantile(99.9)),
		Max:   usToMs(h.Max()),
		hist:  h,
	}
}

// toolVersion is the version and revision this binary was built from.
func toolVersion() string {
	v := version.Get()
	s := v.Version
	if s == "" {
		s = "devel"
	}
	s += " (revision " + v.Revision[:min(12, len(v.Revision))]
	if v.Modified {
		s += ", modified"
	}
	return s + ")"
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}

// summary builds the Summary of the runs in metas from what was added.
func (a *aggregator) summary(metas []RunMeta) Summary {
	t := &a.totals
	s := Summary{
		SchemaVersion: SchemaVersion,
		Version:       toolVersion(),
		Host:          hostname(),
		Generators:    metas,
		Counts:        t.Counts,
		Started:       t.Started,
		Resumed:       t.Resumed,
		FailLines:     map[string]uint64{},
		UnfinishedAt:  t.UnfinishedAt,
		PeakInflight:  t.PeakInflight,
		Intervals:     a.intervals,
		NBits:         -1,
	}
	for l, n := range t.FailLines {
		s.FailLines[l] = n
	}
	var end, loadEnd time.Time
	modes, targets := map[string]bool{}, map[string]bool{}
	for i, m := range metas {
		if i == 0 || m.StartTime.Before(s.StartTime) {
			s.StartTime = m.StartTime
		}
		if m.EndTime.After(end) {
			end = m.EndTime
		}
		modes[m.Mode], targets[m.Target] = true, true
		s.Workers += m.Workers
		s.Rate += m.Rate
		s.MaxInflight += m.MaxInflight
		s.Concurrency += m.Concurrency
		s.Capped = s.Capped || m.Capped
		s.Resumption = s.Resumption || m.Resumption
		s.Plain = s.Plain || m.Plain
		s.SourceIPs = max(s.SourceIPs, m.SourceIPs)
		s.LoadSeconds = max(s.LoadSeconds, m.LoadSeconds)
		if e := m.StartTime.Add(time.Duration(m.LoadSeconds * float64(time.Second))); e.After(loadEnd) {
			loadEnd = e
		}
		s.GraceSeconds = max(s.GraceSeconds, m.GraceSeconds)
		s.CPUs += m.CPUs
		s.Incomplete = s.Incomplete || m.Incomplete
		if m.NBits >= 0 {
			s.NBits = m.NBits
		}
		switch m.Mode {
		case "closed":
			s.RequestedConcurrency += m.Workers
		case "open":
			s.RequestedConcurrency += m.MaxInflight
		case "park":
			s.RequestedConcurrency += m.Park
		}
		if m.ParkResult != nil {
			if s.Park == nil {
				s.Park = &Park{}
			}
			p := m.ParkResult
			s.Park.Requested += p.Requested
			s.Park.Parked += p.Parked
			s.Park.Dropped += p.Dropped
			s.Park.OpenSeconds = max(s.Park.OpenSeconds, p.OpenSeconds)
			s.Park.HoldSeconds = max(s.Park.HoldSeconds, p.HoldSeconds)
		}
	}
	s.Mode, s.Target = joinKeys(modes), joinKeys(targets)
	s.mixed = len(modes) > 1
	if !end.IsZero() {
		s.DurationSeconds = end.Sub(s.StartTime).Seconds()
	}
	if len(metas) > 1 {
		// Merged generators started sessions from the first one's start to
		// the last one's load end: runs one after another must not have
		// their arrivals divided by one run's length.
		s.LoadSeconds = loadEnd.Sub(s.StartTime).Seconds()
	}
	s.Sessions = t.Counts.Total()
	if s.DurationSeconds > 0 {
		s.SessionsPerSecond = float64(s.Sessions) / s.DurationSeconds
		s.CompletedPerSecond = float64(t.Counts.Completed) / s.DurationSeconds
	}
	if s.LoadSeconds > 0 {
		s.StartedPerSecond = float64(t.Started) / s.LoadSeconds
	}
	for kind, msgs := range t.Errors {
		for msg, n := range msgs {
			s.Errors = append(s.Errors, ErrorCount{Outcome: kind, Message: msg, Count: n})
		}
	}
	sort.Slice(s.Errors, func(i, j int) bool {
		a, b := s.Errors[i], s.Errors[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Outcome+a.Message < b.Outcome+b.Message
	})
	s.Latency = latencyOf(a.hists[tagSession])
	if s.Latency.Count > 0 {
		s.Spectrum = spectrum(a.hists[tagSession])
	}
	for p := range numPhases {
		l := latencyOf(a.hists[1+int(p)])
		if l.Count > 0 {
			s.Phases = append(s.Phases, PhaseLatency{Phase: phaseNames[p], Title: phaseTitles[p], Latency: l})
		}
	}
	if t.SolveNs > 0 {
		s.Solve = &SolveStats{
			Hashes:                   t.Hashes,
			Seconds:                  float64(t.SolveNs) / 1e9,
			HashesPerSecondPerSolver: float64(t.Hashes) / (float64(t.SolveNs) / 1e9),
		}
		if t.SessionNs > 0 {
			s.Solve.ShareOfSessionTime = float64(t.SolveNs) / float64(t.SessionNs)
		}
		if s.DurationSeconds > 0 {
			s.Solve.AvgSolving = s.Solve.Seconds / s.DurationSeconds
		}
	}
	s.Warnings = warnings(&s)
	return s
}

func joinKeys(m map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// Warnings a user must not miss, worked out from the summary alone so a
// merged report says the same as the runs it merges.
func warnings(s *Summary) []string {
	var w []string
	solveBound := s.Solve != nil && s.Solve.ShareOfSessionTime >= 0.5
	if solveBound {
		sv := s.Solve
		msg := fmt.Sprintf("WORK solving on the load generator, not the server, limited this run: sessions spent %s of their time solving WORK at %s hashes/s per session",
			percentF(sv.ShareOfSessionTime), humanCount(sv.HashesPerSecondPerSolver))
		if s.NBits >= 0 {
			expect := math.Pow(2, float64(s.NBits))
			msg += fmt.Sprintf(" (n_bits %d takes about %s hashes, %s per session)", s.NBits, humanCount(expect), HumanMs(1000*expect/sv.HashesPerSecondPerSolver))
		}
		if sv.AvgSolving > 0 {
			msg += fmt.Sprintf("; on average %s sessions were solving at once on %d CPUs, %s hashes/s in all",
				sig3(sv.AvgSolving), s.CPUs, humanCount(float64(sv.Hashes)/s.DurationSeconds))
		}
		msg += ". Lower the server's --n_bits to load the server, or spread the load over more machines (deploy/kubernetes/loadgen-job.yaml)."
		w = append(w, msg)
	}
	if s.Rate > 0 && s.LoadSeconds > 0 && s.Park == nil && !s.mixed {
		offered := s.Rate
		if s.StartedPerSecond < 0.95*offered {
			w = append(w, fmt.Sprintf("the offered rate was not reached: offered %s, started %s; arrivals waited for one of the --max-inflight %d slots, and that wait counts in their latency",
				humanRate(offered), humanRate(s.StartedPerSecond), s.MaxInflight))
		}
		finished := float64(s.Sessions-s.Counts.Unfinished) / s.DurationSeconds
		if finished < 0.9*offered {
			who := "the target could not keep up"
			if solveBound {
				who = "the load generator's WORK solving could not keep up"
			}
			w = append(w, fmt.Sprintf("%s: offered %s, sessions finished at %s", who, humanRate(offered), humanRate(finished)))
		}
	}
	if s.Counts.Unfinished > 0 {
		var at []string
		for p := range numPhases {
			if n := s.UnfinishedAt[phaseNames[p]]; n > 0 {
				at = append(at, fmt.Sprintf("%d in %s", n, phaseTitles[p]))
			}
		}
		w = append(w, fmt.Sprintf("%d sessions were still running when the run ended and count as unfinished (%s)", s.Counts.Unfinished, strings.Join(at, ", ")))
	}
	if s.Capped {
		w = append(w, fmt.Sprintf("concurrency was capped to %d (asked %d) by the open-file limit (RLIMIT_NOFILE)", s.Concurrency, s.RequestedConcurrency))
	}
	if s.Incomplete {
		w = append(w, "a results file ends early (its load generator was killed): its last intervals are missing")
	}
	return w
}

func percentF(f float64) string { return sig3(100*f) + "%" }

func spectrum(h *hdrhistogram.Histogram) []SpectrumPoint {
	// Denser toward the tail, where the interesting behaviour is.
	spectrumPercentiles := [...]float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100}
	pts := make([]SpectrumPoint, 0, len(spectrumPercentiles))
	for _, p := range spectrumPercentiles {
		v := h.ValueAtQuantile(p)
		if p == 0 {
			v = h.Min()
		}
		pts = append(pts, SpectrumPoint{Percentile: p, Ms: usToMs(v)})
	}
	return pts
}
