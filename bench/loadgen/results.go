package loadgen

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Counts are the session outcomes. Every finished session is in exactly one.
type Counts struct {
	Completed uint64 `json:"completed"`
	// ServerFail: FAIL lines other than random injections (bad suffix,
	// bad checksum, receiving, timeouts, shutdown...); by line in FailLines.
	ServerFail uint64 `json:"server_fail"`
	// InjectedFail: the server's random "FAIL <random_string>" in the body,
	// a normal protocol outcome (about 90% of sessions at the reference's
	// 20 draws with 1 in 9 FAIL).
	InjectedFail uint64 `json:"injected_fail"`
	TLSErrors    uint64 `json:"tls_errors"`
	Timeouts     uint64 `json:"timeouts"`
	// ConnectErrors: TCP connect failed (refused, no ports, ...).
	ConnectErrors uint64 `json:"connect_errors"`
	// ProtocolErrors: the server closed early or sent something invalid.
	ProtocolErrors uint64 `json:"protocol_errors"`
	// Unfinished: still running when the run ended (its --duration and
	// --grace were over, or it was interrupted).
	Unfinished uint64 `json:"unfinished"`
}

// Total is the number of sessions accounted for.
func (c Counts) Total() uint64 {
	return c.Completed + c.InjectedFail + c.Unfinished + c.Errors()
}

// Errors counts the sessions that failed: neither completed, nor ended by
// the injected FAIL, nor unfinished.
func (c Counts) Errors() uint64 {
	return c.ServerFail + c.TLSErrors + c.Timeouts + c.ConnectErrors + c.ProtocolErrors
}

func (c *Counts) add(k kind) {
	switch k {
	case kCompleted:
		c.Completed++
	case kServerFail:
		c.ServerFail++
	case kInjectedFail:
		c.InjectedFail++
	case kTLS:
		c.TLSErrors++
	case kTimeout:
		c.Timeouts++
	case kConnect:
		c.ConnectErrors++
	case kProtocol:
		c.ProtocolErrors++
	case kUnfinished:
		c.Unfinished++
	}
}

func (c *Counts) merge(o Counts) {
	c.Completed += o.Completed
	c.ServerFail += o.ServerFail
	c.InjectedFail += o.InjectedFail
	c.TLSErrors += o.TLSErrors
	c.Timeouts += o.Timeouts
	c.ConnectErrors += o.ConnectErrors
	c.ProtocolErrors += o.ProtocolErrors
	c.Unfinished += o.Unfinished
}

// IntervalCounts is what happened in one interval of wall-clock time; the
// --out file holds one per interval as JSON beside its histograms.
type IntervalCounts struct {
	StartMs  int64 `json:"start_ms"` // Unix milliseconds, a multiple of LengthMs
	LengthMs int64 `json:"length_ms"`
	// CoveredMs is the part of the interval the run was going (less than
	// LengthMs in the first and last).
	CoveredMs int64  `json:"covered_ms"`
	Started   uint64 `json:"started"`
	Counts    Counts `json:"counts"`
	// Errors counts error messages by outcome ("TLS error", ...), then by
	// normalized message.
	Errors       map[string]map[string]uint64 `json:"errors,omitempty"`
	FailLines    map[string]uint64            `json:"fail_lines,omitempty"`
	UnfinishedAt map[string]uint64            `json:"unfinished_at,omitempty"` // by phase name
	Resumed      uint64                       `json:"resumed,omitempty"`
	Hashes       uint64                       `json:"hashes,omitempty"`
	SolveNs      int64                        `json:"solve_ns,omitempty"`
	SessionNs    int64                        `json:"session_ns,omitempty"` // time in all phases of all sessions
	PeakInflight int64                        `json:"peak_inflight"`
}

func (c *IntervalCounts) addError(kind, msg string) {
	if c.Errors == nil {
		c.Errors = map[string]map[string]uint64{}
	}
	if c.Errors[kind] == nil {
		c.Errors[kind] = map[string]uint64{}
	}
	c.Errors[kind][msg]++
}

func (c *IntervalCounts) addFailLine(line string) {
	if c.FailLines == nil {
		c.FailLines = map[string]uint64{}
	}
	c.FailLines[line]++
}

func (c *IntervalCounts) addUnfinished(phase string) {
	if c.UnfinishedAt == nil {
		c.UnfinishedAt = map[string]uint64{}
	}
	c.UnfinishedAt[phase]++
}

// merge adds o (the same interval from another load generator).
func (c *IntervalCounts) merge(o *IntervalCounts) {
	c.CoveredMs = max(c.CoveredMs, o.CoveredMs)
	c.Started += o.Started
	c.Counts.merge(o.Counts)
	for k, m := range o.Errors {
		for msg, n := range m {
			if c.Errors == nil {
				c.Errors = map[string]map[string]uint64{}
			}
			if c.Errors[k] == nil {
				c.Errors[k] = map[string]uint64{}
			}
			c.Errors[k][msg] += n
		}
	}
	for l, n := range o.FailLines {
		if c.FailLines == nil {
			c.FailLines = map[string]uint64{}
		}
		c.FailLines[l] += n
	}
	for p, n := range o.UnfinishedAt {
		if c.UnfinishedAt == nil {
			c.UnfinishedAt = map[string]uint64{}
		}
		c.UnfinishedAt[p] += n
	}
	c.Resumed += o.Resumed
	c.Hashes += o.Hashes
	c.SolveNs += o.SolveNs
	c.SessionNs += o.SessionNs
	c.PeakInflight += o.PeakInflight // generators run side by side
}

// RunMeta describes one load generator's run: written at the top of its
// --out file, completed at the end, and listed in every summary.
type RunMeta struct {
	Tool      string            `json:"tool"`
	Version   string            `json:"version"`
	Host      string            `json:"host"`
	StartTime time.Time         `json:"start_time"`
	EndTime   time.Time         `json:"end_time,omitzero"`
	Args      []string          `json:"args,omitempty"`
	Flags     map[string]string `json:"flags,omitempty"`
	Mode      string            `json:"mode"`
	Target    string            `json:"target"`
	// Workers (closed model), Rate and MaxInflight (open model) or Park
	// as asked; Concurrency after the RLIMIT_NOFILE cap.
	Workers       int     `json:"workers,omitempty"`
	Rate          float64 `json:"rate,omitempty"`
	MaxInflight   int     `json:"max_inflight,omitempty"`
	Park          int     `json:"park,omitempty"`
	Concurrency   int     `json:"effective_concurrency"`
	Capped        bool    `json:"capped"`
	DurationLimit float64 `json:"duration_limit_s,omitempty"`
	SessionsLimit int     `json:"sessions_limit,omitempty"`
	GraceSeconds  float64 `json:"grace_s,omitempty"`
	IntervalMs    int64   `json:"interval_ms"`
	CPUs          int     `json:"cpus"`
	Resumption    bool    `json:"resumption"`
	Plain         bool    `json:"plain,omitempty"` // plain TCP, no TLS (--plain)
	SourceIPs     int     `json:"source_ips"`
	Identities    int     `json:"identities,omitempty"` // transient client certificates (--identities)
	// Known at the end: the difficulty the server sent (-1: no WORK
	// seen), how long sessions were being started, the park result.
	NBits       int     `json:"n_bits"`
	LoadSeconds float64 `json:"load_s"`
	ParkResult  *Park   `json:"park_result,omitempty"`
	// Incomplete: the file has no end record (the generator was killed).
	Incomplete bool `json:"incomplete,omitempty"`
	// Started and Counts are this generator's own sessions (filled in by
	// the summary; a merged report shows each generator's share).
	Started uint64  `json:"started"`
	Counts  *Counts `json:"counts,omitempty"`
}

// The --out file is an HdrHistogram interval log (format 1.3): tagged
// interval lines "Tag=T,start,length,max,HISTFAAA..." with absolute start
// times in seconds and latencies in microseconds, readable by HdrHistogram
// tools. The run's metadata and each interval's counts ride in comment
// lines, which those tools ignore.
const (
	logRunPrefix      = "#tlslpd-run "
	logIntervalPrefix = "#tlslpd-interval "
	logEndPrefix      = "#tlslpd-end "
	logFormatComment  = "#[Histogram log format version 1.3]"
	logUnitsComment   = "#[tlslpd bench load: latencies in microseconds; Tag=session is completed sessions, the other tags are phases]"
	logLegend         = `"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"`
)

// logWriter writes the --out file as the run goes.
type logWriter struct {
	w *bufio.Writer
}

func newLogWriter(w io.Writer, meta *RunMeta) (*logWriter, error) {
	lw := &logWriter{w: bufio.NewWriter(w)}
	mj, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode run metadata: %w", err)
	}
	start := float64(meta.StartTime.UnixMilli()) / 1000
	fmt.Fprintf(lw.w, "%s\n%s\n#[StartTime: %.3f (seconds since epoch), %s]\n#[BaseTime: 0.000 (seconds since epoch)]\n%s%s\n%s\n",
		logFormatComment, logUnitsComment, start, meta.StartTime.UTC().Format(time.RFC3339Nano), logRunPrefix, mj, logLegend)
	return lw, lw.w.Flush()
}

func (lw *logWriter) interval(iv *interval) error {
	cj, err := json.Marshal(&iv.IntervalCounts)
	if err != nil {
		return fmt.Errorf("encode interval: %w", err)
	}
	fmt.Fprintf(lw.w, "%s%s\n", logIntervalPrefix, cj)
	start, length := float64(iv.StartMs)/1000, float64(iv.LengthMs)/1000
	for i, h := range iv.hists {
		if h.TotalCount() == 0 {
			continue
		}
		enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return fmt.Errorf("encode histogram: %w", err)
		}
		// The max column is in milliseconds, as HdrHistogram tools expect.
		fmt.Fprintf(lw.w, "Tag=%s,%.3f,%.3f,%.3f,%s\n", tagName(i), start, length, float64(h.Max())/1000, enc)
	}
	return lw.w.Flush()
}

func (lw *logWriter) end(meta *RunMeta) error {
	mj, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("encode run metadata: %w", err)
	}
	fmt.Fprintf(lw.w, "%s%s\n", logEndPrefix, mj)
	return lw.w.Flush()
}

// ErrResults is wrapped by errors reading a --out file.
var ErrResults = errors.New("not a tlslpd bench load results file")

// ResultsReader reads a --out file one interval at a time, so merging
// long runs from many generators holds only one interval of each.
type ResultsReader struct {
	name   string
	sc     *bufio.Scanner
	lineNo int
	peeked *string
	meta   RunMeta
	sawEnd bool
	lastMs int64
	done   bool
}

// NewResultsReader reads the run metadata at the top of a --out file;
// name is used in error messages.
func NewResultsReader(r io.Reader, name string) (*ResultsReader, error) {
	rr := &ResultsReader{name: name, sc: bufio.NewScanner(r), lastMs: math.MinInt64}
	rr.sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for {
		line, ok := rr.line()
		if !ok {
			if err := rr.sc.Err(); err != nil {
				return nil, fmt.Errorf("read %s: %w", name, err)
			}
			return nil, fmt.Errorf("%w: %s has no %q line", ErrResults, name, strings.TrimSpace(logRunPrefix))
		}
		switch {
		case strings.HasPrefix(line, logRunPrefix):
			if err := rr.readMeta(line[len(logRunPrefix):]); err != nil {
				return nil, err
			}
			return rr, nil
		case line == "" || strings.HasPrefix(line, "#") || line == logLegend:
		default:
			return nil, rr.fail("unexpected line before the run metadata: %.40q", line)
		}
	}
}

func (rr *ResultsReader) line() (string, bool) {
	if rr.peeked != nil {
		l := *rr.peeked
		rr.peeked = nil
		return l, true
	}
	if !rr.sc.Scan() {
		return "", false
	}
	rr.lineNo++
	return rr.sc.Text(), true
}

func (rr *ResultsReader) fail(format string, a ...any) error {
	return fmt.Errorf("%w: %s line %d: %s", ErrResults, rr.name, rr.lineNo, fmt.Sprintf(format, a...))
}

func (rr *ResultsReader) readMeta(js string) error {
	var m RunMeta
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		return rr.fail("run metadata: %v", err)
	}
	if m.IntervalMs <= 0 {
		return rr.fail("run metadata without interval_ms")
	}
	if rr.meta.IntervalMs != 0 && m.IntervalMs != rr.meta.IntervalMs {
		return rr.fail("end record's interval_ms differs from the start's")
	}
	rr.meta = m
	return nil
}

// Meta is the run's metadata: complete once Next returned io.EOF (a
// file without its end record is marked Incomplete).
func (rr *ResultsReader) Meta() RunMeta { return rr.meta }

// Next returns the next interval, or io.EOF after the last.
func (rr *ResultsReader) Next() (*interval, error) {
	if rr.done {
		return nil, io.EOF
	}
	var iv *interval
	for {
		line, ok := rr.line()
		if !ok {
			break
		}
		switch {
		case strings.HasPrefix(line, logIntervalPrefix):
			if iv != nil {
				rr.peeked = &line
				return rr.complete(iv), nil
			}
			iv = &interval{}
			if err := json.Unmarshal([]byte(line[len(logIntervalPrefix):]), &iv.IntervalCounts); err != nil {
				return nil, rr.fail("interval: %v", err)
			}
			if iv.LengthMs != rr.meta.IntervalMs {
				return nil, rr.fail("interval of %d ms in a run of %d ms intervals", iv.LengthMs, rr.meta.IntervalMs)
			}
			if iv.StartMs <= rr.lastMs {
				return nil, rr.fail("intervals out of order")
			}
			rr.lastMs = iv.StartMs
		case strings.HasPrefix(line, "Tag="):
			if iv == nil {
				return nil, rr.fail("histogram outside an interval")
			}
			if err := rr.histogram(iv, line); err != nil {
				return nil, err
			}
		case strings.HasPrefix(line, logEndPrefix):
			if err := rr.readMeta(line[len(logEndPrefix):]); err != nil {
				return nil, err
			}
			rr.sawEnd = true
		case strings.HasPrefix(line, logRunPrefix):
			return nil, rr.fail("a second run in one file")
		case line == "" || strings.HasPrefix(line, "#") || line == logLegend:
		default:
			return nil, rr.fail("unexpected line %.40q", line)
		}
	}
	if err := rr.sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", rr.name, err)
	}
	rr.done = true
	if !rr.sawEnd {
		rr.meta.Incomplete = true
		if rr.lastMs != math.MinInt64 {
			rr.meta.EndTime = time.UnixMilli(rr.lastMs + rr.meta.IntervalMs).UTC()
		}
	}
	if iv != nil {
		return rr.complete(iv), nil
	}
	return nil, io.EOF
}

func (rr *ResultsReader) histogram(iv *interval, line string) error {
	fields := strings.SplitN(line, ",", 5)
	if len(fields) != 5 {
		return rr.fail("histogram line has %d fields, want 5", len(fields))
	}
	ti := tagIndex(strings.TrimPrefix(fields[0], "Tag="))
	if ti < 0 {
		return rr.fail("unknown tag %q", fields[0])
	}
	start, err := strconv.ParseFloat(fields[1], 64)
	if err != nil || int64(math.Round(start*1000)) != iv.StartMs {
		return rr.fail("histogram start %q does not match its interval", fields[1])
	}
	h, err := decodeHistogram(fields[4])
	if err != nil {
		return rr.fail("histogram: %v", err)
	}
	if iv.hists[ti] != nil {
		return rr.fail("two %s histograms in one interval", tagName(ti))
	}
	iv.hists[ti] = h
	return nil
}

// maxHistogramBytes bounds a decompressed histogram: our histograms'
// counts array encodes in well under this, and a hostile file's zlib bomb
// must not take the reader's memory.
const maxHistogramBytes = 1 << 20

// decodeHistogram decodes a compressed histogram written by bench load.
// The header is checked first (our range and precision), so a file cannot
// make the reader allocate a huge counts array; hdrhistogram-go panics on
// some malformed payloads, and a bad file must be an error, not a crash.
func decodeHistogram(s string) (h *hdrhistogram.Histogram, err error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(raw) < 8 {
		return nil, errors.New("too short")
	}
	z, err := zlib.NewReader(bytes.NewReader(raw[8:]))
	if err != nil {
		return nil, err
	}
	plain, err := io.ReadAll(io.LimitReader(z, maxHistogramBytes+1))
	if err != nil {
		return nil, err
	}
	if len(plain) > maxHistogramBytes || len(plain) < 40 {
		return nil, fmt.Errorf("decompressed size %d out of bounds", len(plain))
	}
	sigFigs := int32(binary.BigEndian.Uint32(plain[12:16]))
	lowest := int64(binary.BigEndian.Uint64(plain[16:24]))
	highest := int64(binary.BigEndian.Uint64(plain[24:32]))
	if sigFigs != histSigFigs || lowest != histMin || highest != histMax {
		return nil, fmt.Errorf("histogram tracks %d..%d with %d digits, want %d..%d with %d", lowest, highest, sigFigs, histMin, histMax, histSigFigs)
	}
	defer func() {
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("malformed histogram (%v)", r)
		}
	}()
	return hdrhistogram.Decode([]byte(s))
}

func (rr *ResultsReader) complete(iv *interval) *interval {
	for i := range iv.hists {
		if iv.hists[i] == nil {
			iv.hists[i] = newHist()
		}
	}
	return iv
}

// Merge reads the --out files of several load generators and summarises
// them as one run: intervals with the same wall-clock start are merged
// (histograms added, not percentiles averaged), so the percentiles are
// those of all sessions together, within the histograms' precision.
func Merge(readers []*ResultsReader) (Summary, error) {
	if len(readers) == 0 {
		return Summary{}, fmt.Errorf("%w: no files", ErrResults)
	}
	for i, a := range readers {
		for _, b := range readers[i+1:] {
			if a.meta.Host == b.meta.Host && a.meta.StartTime.Equal(b.meta.StartTime) {
				return Summary{}, fmt.Errorf("%w: %s and %s are the same run (host %s, started %s): merged twice it would count its sessions twice",
					ErrResults, a.name, b.name, a.meta.Host, a.meta.StartTime.UTC().Format(time.RFC3339Nano))
			}
		}
	}
	length := readers[0].meta.IntervalMs
	for _, rr := range readers[1:] {
		if rr.meta.IntervalMs != length {
			return Summary{}, fmt.Errorf("%w: %s has %d ms intervals, %s %d ms: merge runs made with one --interval",
				ErrResults, readers[0].name, length, rr.name, rr.meta.IntervalMs)
		}
	}
	heads := make([]*interval, len(readers))
	advance := func(i int) error {
		iv, err := readers[i].Next()
		if errors.Is(err, io.EOF) {
			heads[i] = nil
			return nil
		}
		heads[i] = iv
		return err
	}
	for i := range readers {
		if err := advance(i); err != nil {
			return Summary{}, err
		}
	}
	agg := newAggregator()
	own := make([]IntervalCounts, len(readers)) // each generator's totals
	for {
		var merged *interval
		first := int64(math.MaxInt64)
		for _, h := range heads {
			if h != nil {
				first = min(first, h.StartMs)
			}
		}
		if first == math.MaxInt64 {
			break
		}
		for i, h := range heads {
			if h == nil || h.StartMs != first {
				continue
			}
			own[i].Started += h.Started
			own[i].Counts.merge(h.Counts)
			if merged == nil {
				merged = h
			} else {
				merged.IntervalCounts.merge(&h.IntervalCounts)
				for t := range merged.hists {
					merged.hists[t].Merge(h.hists[t])
				}
			}
			if err := advance(i); err != nil {
				return Summary{}, err
			}
		}
		agg.add(merged)
	}
	metas := make([]RunMeta, len(readers))
	for i, rr := range readers {
		metas[i] = rr.Meta()
		metas[i].Started, metas[i].Counts = own[i].Started, &own[i].Counts
	}
	return agg.summary(metas), nil
}
