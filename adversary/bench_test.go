package adversary

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tlslpd/bench/loadgen"
	"tlslpd/bench/suite"
)

// The attack benchmarks (make bench-hostile) each run one scenario against
// a fresh tlslpd process and report the figures with
// b.ReportMetric; every time figure is a ratio against the same honest
// client measured in the same run without the attack. They ignore b.N (run
// them with -benchtime=1x). -hostile.full runs the sizes of issue 11 (about
// 6 minutes in all); the default is a smaller, quicker version.

var hostileFull = flag.Bool("hostile.full", false, "attack benchmarks at issue 11's sizes (slow)")

func pick(small, full int) int {
	if *hostileFull {
		return full
	}
	return small
}

// honestWaits runs n honest sessions one after another and returns their
// handshake waits (up to the failure, for a handshake that failed) and the
// total latencies of those that were served. before, if set, runs before
// each session.
func honestWaits(b *testing.B, ctx context.Context, s *server, n int, before func()) (waits, totals []time.Duration, failed int) {
	for range n {
		if before != nil {
			before()
		}
		res := Probe{Target: s.target, Timeout: 15 * time.Second}.Run(ctx)
		waits = append(waits, res.HandshakeWait)
		if res.Err != nil {
			failed++
			b.Logf("honest session: %v (after %v)", res.Err, res.Total)
			continue
		}
		totals = append(totals, res.Total)
	}
	return waits, totals, failed
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func maxDur(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// BenchmarkStalledHandshakeWait: an honest session's handshake wait with
// stalled handshakes held against the server, against its wait with none.
func BenchmarkStalledHandshakeWait(b *testing.B) {
	for _, tc := range []struct{ conns, sources int }{{pick(500, 2000), 30}, {200, 1}} {
		b.Run(fmt.Sprintf("%d_from_%d", tc.conns, tc.sources), func(b *testing.B) {
			s := startServer(b)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			base, _, _ := honestWaits(b, ctx, s, 7, nil)
			run, err := Stall{Target: s.target, Sources: Sources(2, tc.sources), Conns: tc.conns, Hold: true}.Start(ctx)
			require.NoError(b, err)
			defer run.Stop()
			_, err = run.WaitSent(ctx, int64(tc.conns), time.Minute)
			require.NoError(b, err)
			// Each honest session starts while the whole attack is held
			// (stalled connections the server closed have come back).
			// and the server has done the work of their first flights (it
			// holds them as suspended handshakes, where it counts those).
			held := func() {
				_, err := run.WaitHeld(ctx, int64(tc.conns), time.Minute)
				require.NoError(b, err)
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					m := s.scrape()
					if _, ok := m["tlslpd_tls_handshakes_suspended"]; !ok || m["tlslpd_tls_handshakes_suspended"] >= float64(tc.conns*9/10) {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			waits, _, failed := honestWaits(b, ctx, s, 5, held)
			st := run.Stats()
			b.ReportMetric(ms(median(base)), "ms_wait_noattack")
			b.ReportMetric(ms(median(waits)), "ms_wait_attack_p50")
			b.ReportMetric(ms(maxDur(waits)), "ms_wait_attack_max")
			b.ReportMetric(ratio(median(waits), median(base)), "wait_ratio_p50")
			b.ReportMetric(float64(failed), "honest_failed")
			b.ReportMetric(float64(st.ClosedByServer), "stalled_closed")
			b.Logf("no attack: %v; under attack: %v (failed %d); attack %+v", base, waits, failed, st)
		})
	}
}

// BenchmarkOverload3x: goodput when offered three times the closed-model
// capacity (open model), and the share of sessions that end in the
// client's own timeout.
func BenchmarkOverload3x(b *testing.B) {
	s := startServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	base := s.loadgenConfig()
	base.OtherTimeout, base.WorkTimeout = 10*time.Second, 10*time.Second
	// Sessions in flight when the arrivals stop may run into the client's
	// timeout; cutting them sooner would hide that.
	base.Grace = 15 * time.Second

	// CPU of the server and of this process (the load generator) over
	// each run: on a machine where they share the cores, a generator that
	// works harder at 3x takes CPU from the server, so goodput in
	// sessions/s mixes both sides; server CPU per good session does not.
	procs := suite.NewProcReader()
	cpuOf := func(pid int) float64 {
		p, err := procs.Sample(pid)
		require.NoError(b, err)
		return p.CPUSeconds
	}
	srvPid, genPid := s.Cmd.Process.Pid, os.Getpid()

	closed := base
	closed.Workers = 64
	closed.Duration = time.Duration(pick(5, 10)) * time.Second
	srv0, gen0 := cpuOf(srvPid), cpuOf(genPid)
	cs, err := loadgen.Run(ctx, closed)
	require.NoError(b, err)
	srvClosed, genClosed := cpuOf(srvPid)-srv0, cpuOf(genPid)-gen0
	goodClosed := float64(cs.Counts.Completed + cs.Counts.InjectedFail)
	capacity := goodClosed / cs.DurationSeconds
	require.Positive(b, capacity)

	before := s.scrape()
	overflows0 := listenOverflows()
	open := base
	open.Rate = 3 * capacity
	open.MaxInflight = 15000
	open.Duration = time.Duration(pick(6, 15)) * time.Second
	open.Notices = io.Discard
	// The server's side of the same seconds: handshakes completed and
	// sessions finished, sampled each second.
	var timeline []string
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		last := before
		for i := 0; ; i++ {
			select {
			case <-sampleCtx.Done():
				return
			case <-time.After(time.Second):
			}
			m := s.scrape()
			timeline = append(timeline, fmt.Sprintf("%ds:%.0f/%.0f/%.0f", i+1,
				sum(m, "tlslpd_tls_handshakes_total", `result="ok"`)-sum(last, "tlslpd_tls_handshakes_total", `result="ok"`),
				sum(m, "tlslpd_sessions_finished_total")-sum(last, "tlslpd_sessions_finished_total"),
				sum(m, "tlslpd_connections_shed_total")-sum(last, "tlslpd_connections_shed_total")))
			last = m
		}
	}()
	srv2, gen2 := cpuOf(srvPid), cpuOf(genPid)
	ol, err := loadgen.Run(ctx, open)
	srvOpen, genOpen := cpuOf(srvPid)-srv2, cpuOf(genPid)-gen2
	stopSampling()
	<-sampled
	require.NoError(b, err)
	goodOpen := float64(ol.Counts.Completed + ol.Counts.InjectedFail)
	require.Positive(b, goodOpen)
	// The server's CPU per good session at capacity over that at 3x (the
	// excess shed included): at least 0.9 means shedding costs the server
	// at most a tenth of its capacity, whatever the generator takes.
	b.ReportMetric(srvClosed/goodClosed*1000, "server_cpu_ms_per_good_1x")
	b.ReportMetric(srvOpen/goodOpen*1000, "server_cpu_ms_per_good_3x")
	b.ReportMetric((srvClosed/goodClosed)/(srvOpen/goodOpen), "goodput_per_server_cpu_ratio")
	b.ReportMetric(genClosed/(genClosed+srvClosed), "generator_cpu_share_1x")
	b.ReportMetric(genOpen/(genOpen+srvOpen), "generator_cpu_share_3x")
	b.Logf("server per second (handshakes ok/sessions finished/shed): %s", strings.Join(timeline, " "))
	after := s.scrape()
	// Where the server's CPU per good session goes at 3x besides good
	// sessions and sheds at accept: handshakes it completed or computed a
	// first flight for whose client then never finished a session (a
	// generator starved of CPU answers late or gives up).
	hs := func(m map[string]float64, labels ...string) float64 {
		return sum(m, "tlslpd_tls_handshakes_total", labels...)
	}
	hsOK := hs(after, `result="ok"`) - hs(before, `result="ok"`)
	b.ReportMetric(hsOK/goodOpen, "server_handshakes_ok_per_good_3x")
	b.ReportMetric((hs(after)-hs(before)-hsOK)/goodOpen, "server_handshakes_failed_per_good_3x")
	var ended []string
	for _, series := range []string{"tlslpd_tls_handshakes_total", "tlslpd_tls_handshakes_shed_total"} {
		for k, v := range after {
			if d := v - before[k]; strings.HasPrefix(k, series+"{") && d > 0 {
				ended = append(ended, fmt.Sprintf("%s %.0f", strings.TrimPrefix(k, "tlslpd_"), d))
			}
		}
	}
	slices.Sort(ended)
	b.Logf("server handshakes at 3x, by result and by shed reason: %s", strings.Join(ended, ", "))
	goodput := steadyGoodput(ol, open.Duration)
	b.ReportMetric(capacity, "capacity_sessions/s")
	b.ReportMetric(goodput, "goodput_3x_sessions/s")
	b.ReportMetric(goodput/capacity, "goodput_ratio")
	// Overall: every good session over the whole run, the drain included
	// (what a queue finishes late still counts here).
	b.ReportMetric(float64(ol.Counts.Completed+ol.Counts.InjectedFail)/ol.DurationSeconds/capacity, "goodput_overall_ratio")
	// Client-side timeouts: a step that ran into the client's timeout, or
	// a connect that did (its SYNs dropped by a full accept queue).
	connectTimeouts := uint64(0)
	for _, e := range ol.Errors {
		if e.Outcome == "connect error" && strings.Contains(e.Message, "timeout") {
			connectTimeouts += e.Count
		}
	}
	total := float64(max(1, ol.Sessions))
	b.ReportMetric(float64(ol.Counts.Timeouts)/total, "client_timeout_fraction")
	b.ReportMetric(float64(connectTimeouts)/total, "connect_timeout_fraction")
	b.ReportMetric(float64(ol.Counts.Unfinished)/total, "unfinished_fraction")
	b.ReportMetric(float64(listenOverflows()-overflows0), "kernel_listen_overflows")
	refused := sum(after, "tlslpd_connections_refused_total") - sum(before, "tlslpd_connections_refused_total")
	shed := sum(after, "tlslpd_connections_shed_total") - sum(before, "tlslpd_connections_shed_total")
	b.ReportMetric(refused, "server_refused")
	b.ReportMetric(shed, "server_shed")
	b.ReportMetric(sum(after, "tlslpd_tls_handshakes_total", `result="timeout"`)-sum(before, "tlslpd_tls_handshakes_total", `result="timeout"`), "server_handshake_timeouts")
	var ivs []string
	for _, iv := range ol.Intervals {
		ivs = append(ivs, fmt.Sprintf("%.0fs:%d/%d/%d", float64(iv.StartMs-ol.Intervals[0].StartMs)/1000, iv.Started, iv.Completed+iv.Injected, iv.Failed))
	}
	b.Logf("open model per interval (start: started/good/failed): %s", strings.Join(ivs, " "))
	b.Logf("client-side errors by message: %+v", ol.Errors)
	b.Logf("closed: %.0f good/s over %.1fs; open at %.0f/s: %d sessions in %.1fs, counts %+v; server refused %.0f, shed %.0f, handshake timeouts %.0f",
		capacity, cs.DurationSeconds, open.Rate, ol.Sessions, ol.DurationSeconds, ol.Counts, refused, shed,
		sum(after, "tlslpd_tls_handshakes_total", `result="timeout"`)-sum(before, "tlslpd_tls_handshakes_total", `result="timeout"`))
}

// BenchmarkSessionCPUBesideParked: the server's CPU per session of a
// closed-model load (64 workers) while thousands of other sessions sit
// parked at WORK, over the same without them. Parked sessions cost no CPU
// themselves, but each loop's epoll watches them: whatever a loop does in
// proportion to the connections it watches, each time it goes idle (an
// EPOLL_CTL_ADD of its epoll fd once did: the kernel's loop check walks
// every watched fd), shows here.
func BenchmarkSessionCPUBesideParked(b *testing.B) {
	s := startServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	base := s.loadgenConfig()
	base.Notices = io.Discard
	procs := suite.NewProcReader()
	perSession := func() float64 {
		p0, err := procs.Sample(s.Cmd.Process.Pid)
		require.NoError(b, err)
		closed := base
		closed.Workers = 64
		closed.Duration = time.Duration(pick(4, 8)) * time.Second
		sum, err := loadgen.Run(ctx, closed)
		require.NoError(b, err)
		p1, err := procs.Sample(s.Cmd.Process.Pid)
		require.NoError(b, err)
		good := float64(sum.Counts.Completed + sum.Counts.InjectedFail)
		require.Positive(b, good)
		return (p1.CPUSeconds - p0.CPUSeconds) / good * 1000
	}
	alone := perSession()

	n := pick(10000, 14000)
	parkCtx, stopParking := context.WithCancel(ctx)
	parked := make(chan loadgen.Summary, 1)
	go func() {
		park := base
		park.Park, park.Hold = n, 3*time.Minute // until stopParking
		sum, _ := loadgen.Run(parkCtx, park)
		parked <- sum
	}()
	s.waitMetric("sessions parked", 2*time.Minute, func(m map[string]float64) bool {
		return sum(m, "tlslpd_connections_open") >= float64(n)
	})
	time.Sleep(time.Second)
	beside := perSession()
	stopParking()
	ps := <-parked
	require.NotNil(b, ps.Park)
	b.ReportMetric(alone, "server_cpu_ms_per_session_alone")
	b.ReportMetric(beside, "server_cpu_ms_per_session_beside_parked")
	b.ReportMetric(beside/alone, "beside_parked_over_alone")
	b.Logf("%d of %d sessions parked beside the load", ps.Park.Parked, n)
}

// BenchmarkKeyUpdateFloodLatency: an honest session's latency next to four
// KeyUpdate flooders, against its latency next to four honest loopers.
// The flooders reconnect whenever the server closes them, each from one
// address, or rotating through 50 addresses of its own so that no penalty
// on an address slows them down.
func BenchmarkKeyUpdateFloodLatency(b *testing.B) {
	for _, rotate := range []bool{false, true} {
		name := "fixed_address"
		if rotate {
			name = "rotating_addresses"
		}
		b.Run(name, func(b *testing.B) { keyUpdateFloodLatency(b, rotate) })
	}
}

func keyUpdateFloodLatency(b *testing.B, rotate bool) {
	s := startServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := pick(15, 40)

	loopCtx, stopLoops := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loopCtx.Err() == nil {
				Probe{Target: s.target}.Run(loopCtx)
			}
		}()
	}
	_, loopers, lf := honestWaits(b, ctx, s, n, nil)
	stopLoops()
	wg.Wait()

	before := s.scrape()
	var floods []*FloodRun
	for i := range 4 {
		f := Flood{Target: s.target, Source: Sources(2+i, 1)[0], Kind: KeyUpdates, Reconnect: true}
		if rotate {
			f.Rotate = Sources(10+50*i, 50)
		}
		run, err := f.Start(ctx)
		require.NoError(b, err)
		floods = append(floods, run)
	}
	time.Sleep(500 * time.Millisecond)
	_, flooded, ff := honestWaits(b, ctx, s, n, nil)
	var fs []FloodStats
	for _, f := range floods {
		f.Stop()
		fs = append(fs, f.Stats())
	}
	after := s.scrape()
	b.ReportMetric(ms(median(loopers)), "ms_p50_loopers")
	b.ReportMetric(ms(maxDur(loopers)), "ms_max_loopers")
	b.ReportMetric(ms(median(flooded)), "ms_p50_flooded")
	b.ReportMetric(ms(maxDur(flooded)), "ms_max_flooded")
	b.ReportMetric(ratio(median(flooded), median(loopers)), "latency_ratio_p50")
	b.ReportMetric(float64(lf+ff), "honest_failed")
	b.Logf("flooders %+v; sessions finished by outcome during the flood: %v; abuse %v, penalized %v", fs, finishedDelta(before, after),
		sum(after, "tlslpd_tls_peer_abuse_total")-sum(before, "tlslpd_tls_peer_abuse_total"),
		sum(after, "tlslpd_tls_handshakes_penalized_total")-sum(before, "tlslpd_tls_handshakes_penalized_total"))
}

// steadyGoodput is the good sessions (completed or ended by the injected
// FAIL) that finished per second while the arrivals went on, the first
// second (the ramp) left out: sessions a queue finishes after the arrivals
// stopped do not count as throughput.
func steadyGoodput(s loadgen.Summary, arrivals time.Duration) float64 {
	good, secs := 0.0, 0.0
	for _, iv := range s.Intervals {
		start := time.Duration(iv.StartMs-s.Intervals[0].StartMs) * time.Millisecond
		if start < time.Second || start >= arrivals {
			continue
		}
		good += float64(iv.Completed + iv.Injected)
		secs += iv.Seconds
	}
	if secs == 0 {
		return 0
	}
	return good / secs
}

// listenOverflows is the kernel's count of connections dropped because a
// listen queue was full (TcpExt ListenOverflows, for the whole network
// namespace: other servers on the machine add to it too).
func listenOverflows() int64 {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		if !strings.HasPrefix(lines[i], "TcpExt:") {
			continue
		}
		k, v := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := range min(len(k), len(v)) {
			if k[j] == "ListenOverflows" {
				n, _ := strconv.ParseInt(v[j], 10, 64)
				return n
			}
		}
	}
	return 0
}

func finishedDelta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 && len(k) > len("tlslpd_sessions_finished_total") && k[:len("tlslpd_sessions_finished_total")] == "tlslpd_sessions_finished_total" {
			out[k[len("tlslpd_sessions_finished_total"):]] = d
		}
	}
	return out
}

// BenchmarkSuspendedHandshakeMemory: what one stalled handshake costs the
// server, from its RSS and Go heap with and without them.
func BenchmarkSuspendedHandshakeMemory(b *testing.B) {
	s := startServer(b, "--handshake-timeout", "120s")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	honestWaits(b, ctx, s, 20, nil) // warm: pools, runners, TLS caches
	time.Sleep(time.Second)
	m0 := s.scrape()
	rss0, heap0, stack0 := s.rss(), sum(m0, "go_memstats_heap_inuse_bytes"), sum(m0, "go_memstats_stack_inuse_bytes")
	n := pick(1000, 2000) // below the default bound of 2,048 suspended handshakes, so none is shed
	run, err := Stall{Target: s.target, Sources: Sources(2, 30), Conns: n}.Start(ctx)
	require.NoError(b, err)
	defer run.Stop()
	_, err = run.WaitSent(ctx, int64(n), time.Minute)
	require.NoError(b, err)
	m := s.waitMetric("stalled connections open", time.Minute, func(m map[string]float64) bool {
		return sum(m, "tlslpd_connections_open") >= float64(n)
	})
	time.Sleep(2 * time.Second)
	m = s.scrape()
	rss1, heap1, stack1 := s.rss(), sum(m, "go_memstats_heap_inuse_bytes"), sum(m, "go_memstats_stack_inuse_bytes")
	b.ReportMetric(float64(rss1-rss0)/float64(n), "rss_bytes/stalled")
	b.ReportMetric((heap1-heap0)/float64(n), "heap_bytes/stalled")
	b.ReportMetric((stack1-stack0)/float64(n), "stack_bytes/stalled")
	b.ReportMetric(sum(m, "tlslpd_tls_handshakes_in_flight"), "in_flight")
	b.ReportMetric(sum(m, "tlslpd_tls_handshakes_queued"), "queued")
	b.Logf("%d stalled: RSS %d -> %d, heap in use %.0f -> %.0f", n, rss0, rss1, heap0, heap1)
}

// BenchmarkConnectionMemory: what one connection costs the server before
// its handshake starts, from its RSS and Go heap with and without them:
// one that sent nothing, and one that sent all but the last byte of a
// 16 KiB first record (the most a connection buffers before a handshake
// starts; the daemon keeps 4 KiB of such bytes per --max-conns
// connection, room for 3,750 of them by default). With
// BenchmarkSuspendedHandshakeMemory it gives the per-item
// costs of the README's memory bound.
func BenchmarkConnectionMemory(b *testing.B) {
	for _, tc := range []struct {
		name       string
		partial    int
		small, big int // connections held: below --max-conns and the budget, so none gives its place
	}{{"silent", 0, 2000, 10000}, {"partial_record", maxPlaintext - 1, 1000, 1800}} {
		b.Run(tc.name, func(b *testing.B) {
			s := startServer(b, "--handshake-timeout", "120s")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			honestWaits(b, ctx, s, 20, nil)
			time.Sleep(time.Second)
			m0 := s.scrape()
			rss0, heap0 := s.rss(), sum(m0, "go_memstats_heap_inuse_bytes")
			n := pick(tc.small, tc.big)
			run, err := Stall{Target: s.target, Sources: Sources(2, 30), Conns: n, Silent: tc.partial == 0, Partial: tc.partial}.Start(ctx)
			require.NoError(b, err)
			defer run.Stop()
			_, err = run.WaitHeld(ctx, int64(n), time.Minute)
			require.NoError(b, err)
			s.waitMetric("connections open", time.Minute, func(m map[string]float64) bool {
				return sum(m, "tlslpd_connections_open") >= float64(n)
			})
			time.Sleep(2 * time.Second)
			m := s.scrape()
			rss1, heap1 := s.rss(), sum(m, "go_memstats_heap_inuse_bytes")
			require.Zero(b, sum(m, "tlslpd_tls_handshakes_in_flight"), "no handshake may start")
			b.ReportMetric(float64(rss1-rss0)/float64(n), "rss_bytes/conn")
			b.ReportMetric((heap1-heap0)/float64(n), "heap_bytes/conn")
			b.Logf("%d %s: RSS %d -> %d, heap in use %.0f -> %.0f", n, tc.name, rss0, rss1, heap0, heap1)
		})
	}
}

// BenchmarkBurstRSS: the server's RSS after a burst of handshaked
// sessions closes, against its idle RSS, over the next minute.
//
// The idle level is that of a daemon that has served (20 honest
// sessions) and collected once, as every daemon has within two minutes of
// idling (the Go runtime forces a collection every two minutes): a
// collection touches the collector's code and metadata, which a daemon
// measured seconds after its start has not yet done, so the burst's first
// collection would be counted as the burst's. The ratio to that fresher,
// lower level is reported too (rss_end_over_fresh_idle).
func BenchmarkBurstRSS(b *testing.B) {
	s := startServer(b)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	honestWaits(b, ctx, s, 20, nil)
	time.Sleep(time.Second)
	freshIdle := s.rss()
	s.collect()
	time.Sleep(2 * time.Second)
	idle := s.rss()
	idleMemory := s.memory()
	n := pick(3000, 15000)
	burst := s.loadgenConfig()
	burst.Park, burst.Hold, burst.Notices = n, 2*time.Second, io.Discard
	ps, err := loadgen.Run(ctx, burst)
	require.NoError(b, err)
	s.waitMetric("burst closed", time.Minute, func(m map[string]float64) bool { return sum(m, "tlslpd_connections_open") == 0 })
	peak := s.rss()
	var at []int64
	back := -1.0
	watch := time.Duration(pick(20, 60)) * time.Second
	start := time.Now()
	for time.Since(start) < watch {
		time.Sleep(time.Second)
		r := s.rss()
		at = append(at, r)
		if back < 0 && float64(r) <= 1.25*float64(idle) {
			back = time.Since(start).Seconds()
		}
	}
	end := at[len(at)-1]
	b.ReportMetric(float64(idle)/(1<<20), "MiB_idle")
	b.ReportMetric(float64(peak)/(1<<20), "MiB_after_burst")
	b.ReportMetric(float64(end)/float64(idle), "rss_end_over_idle")
	b.ReportMetric(float64(freshIdle)/(1<<20), "MiB_fresh_idle")
	b.ReportMetric(float64(end)/float64(freshIdle), "rss_end_over_fresh_idle")
	b.ReportMetric(back, "s_to_within_25pct")
	b.Logf("parked %d of %d; RSS idle %d MiB, after close %d MiB, then each second (MiB): %v", ps.Park.Parked, n, idle>>20, peak>>20, mib(at))
	b.Logf("idle: %s", idleMemory)
	b.Logf("end:  %s", s.memory())
}

func mib(v []int64) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = x >> 20
	}
	return out
}

// BenchmarkStalledBurst: 15,000 stalled connections (a ClientHello then
// silence, or nothing at all) against a server with default limits: its
// RSS, and whether honest sessions still complete.
func BenchmarkStalledBurst(b *testing.B) {
	for _, silent := range []bool{false, true} {
		name := "client_hello"
		if silent {
			name = "silent"
		}
		b.Run(name, func(b *testing.B) {
			s := startServer(b)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			honestWaits(b, ctx, s, 5, nil)
			idle := s.rss()
			n := pick(3000, 15000)
			run, err := Stall{Target: s.target, Sources: Sources(2, 30), Conns: n, Hold: true, Silent: silent}.Start(ctx)
			require.NoError(b, err)
			defer run.Stop()
			// Let the attack reach its size (or what the server lets it
			// hold) before the honest sessions start.
			deadline := time.Now().Add(30 * time.Second)
			for run.Stats().Opened < int64(n) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			// A connection counts as unanswered once silent for a second;
			// the honest sessions come after that.
			time.Sleep(1500 * time.Millisecond)
			waits, _, failed := honestWaits(b, ctx, s, 5, nil)
			st := run.Stats()
			m := s.scrape()
			peak := s.rss()
			b.ReportMetric(float64(failed), "honest_failed")
			b.ReportMetric(ms(median(waits)), "ms_wait_p50")
			b.ReportMetric(float64(peak)/(1<<20), "MiB_rss")
			b.ReportMetric(float64(idle)/(1<<20), "MiB_idle")
			b.ReportMetric(sum(m, "tlslpd_connections_open"), "server_conns")
			// Reconnects refused before any handshake work, for the
			// failures of their address's earlier handshakes.
			b.ReportMetric(sum(m, "tlslpd_connections_refused_total", `reason="failed_handshakes"`), "refused_failed_handshakes")
			b.Logf("%d %s: honest waits %v (failed %d); attack %+v; server refused %v shed %v", n, name, waits, failed, st,
				sum(m, "tlslpd_connections_refused_total"), sum(m, "tlslpd_connections_shed_total"))
		})
	}
}

// The README's memory bound for the whole daemon under a stalled-connection
// attack (Handshakes under attack): idle RSS, plus the live memory of
// --max-conns connections, each costing what one that sent nothing costs
// (BenchmarkConnectionMemory/silent) and its share of the bytes
// unanswered connections may keep (4 KiB, in buffers up to a quarter
// larger: BenchmarkConnectionMemory/partial_record), and of
// --max-suspended-handshakes handshakes, each with its coroutine and
// crypto/tls state (BenchmarkSuspendedHandshakeMemory, less a silent
// connection) and a partial record of up to 16 KiB; times
// 1 + --gc-percent/100, the heap the GC lets grow between collections.
const (
	boundBase           = 24 << 20
	boundPerConn        = 1536 + 5120
	boundPerSuspended   = 64 << 10
	boundGCPercent      = 200 // the daemon's default --gc-percent
	defaultMaxConns     = 15000
	defaultMaxSuspended = 2048
)

func memoryBound(maxConns, maxSuspended, gcPercent int) int64 {
	live := int64(maxConns)*boundPerConn + int64(maxSuspended)*boundPerSuspended
	return boundBase + live*int64(100+gcPercent)/100
}

// BenchmarkMemoryBound: the daemon's peak RSS under the costliest stalled
// attack there is, against the README's bound for its limits: --max-conns
// connections held, every kind that costs memory at its bound and beyond,
// each kind reconnecting whenever the server ends one (shed, the
// handshake deadline, a newcomer at --max-conns): stalled ClientHellos
// (more than the suspended bound), connections that sent all but a byte
// of a 16 KiB first record (more than their budget holds) and silent ones
// for the rest. Honest sessions must complete meanwhile. Once with the
// failed-handshake rate off (it refuses most reconnects, and the bound
// must hold without it), once with the defaults.
func BenchmarkMemoryBound(b *testing.B) {
	for _, rate := range []string{"0", "10"} {
		name := "rate_off"
		if rate != "0" {
			name = "defaults"
		}
		b.Run(name, func(b *testing.B) { memoryBoundRun(b, rate) })
	}
}

func memoryBoundRun(b *testing.B, failedRate string) {
	maxConns, maxSuspended := pick(3000, defaultMaxConns), pick(512, defaultMaxSuspended)
	s := startServer(b, "--max-conns", strconv.Itoa(maxConns), "--max-suspended-handshakes", strconv.Itoa(maxSuspended),
		"--failed-handshakes-per-ip", failedRate)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	honestWaits(b, ctx, s, 5, nil)
	idle := s.rss()

	var peak, peakConns, peakSuspended atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Add(2)
	go func() {
		defer sampling.Done()
		for sampleCtx.Err() == nil {
			if r := s.rss(); r > peak.Load() {
				peak.Store(r)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	go func() {
		defer sampling.Done()
		for sampleCtx.Err() == nil {
			m := s.scrape()
			peakConns.Store(max(peakConns.Load(), int64(sum(m, "tlslpd_connections_open"))))
			peakSuspended.Store(max(peakSuspended.Load(), int64(sum(m, "tlslpd_tls_handshakes_suspended"))))
			time.Sleep(500 * time.Millisecond)
		}
	}()

	hellos, partials := maxSuspended+maxSuspended/4, pick(1000, 5000) // partials: more than the 4 KiB per connection holds
	stalled, err := Stall{Target: s.target, Sources: Sources(2, 30), Conns: hellos, Hold: true}.Start(ctx)
	require.NoError(b, err)
	defer stalled.Stop()
	partial, err := Stall{Target: s.target, Sources: Sources(40, 30), Conns: partials, Hold: true, Partial: maxPlaintext - 1}.Start(ctx)
	require.NoError(b, err)
	defer partial.Stop()
	silent, err := Stall{Target: s.target, Sources: Sources(80, 30), Conns: maxConns - hellos - partials, Hold: true, Silent: true}.Start(ctx)
	require.NoError(b, err)
	defer silent.Stop()
	// Every connection of the attack has been opened once.
	for _, run := range []*StallRun{stalled, partial, silent} {
		deadline := time.Now().Add(time.Minute)
		for run.Stats().Opened < int64(run.cfg.Conns) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		require.GreaterOrEqual(b, run.Stats().Opened, int64(run.cfg.Conns), "the attack opened its connections")
	}
	// Held across a handshake deadline (10 s), so the connections it
	// ends come back and their garbage counts too; the honest sessions
	// run meanwhile (unanswered for over a second, the partial ones give
	// them their places at --max-conns).
	time.Sleep(1500 * time.Millisecond)
	waits, _, failed := honestWaits(b, ctx, s, 5, nil)
	time.Sleep(time.Duration(pick(3, 12)) * time.Second)
	stopSampling()
	sampling.Wait()
	bound := memoryBound(maxConns, maxSuspended, boundGCPercent)
	m := s.scrape()
	b.ReportMetric(float64(peak.Load())/(1<<20), "MiB_rss_peak")
	b.ReportMetric(float64(bound)/(1<<20), "MiB_bound")
	b.ReportMetric(float64(peak.Load())/float64(bound), "peak_over_bound")
	b.ReportMetric(float64(idle)/(1<<20), "MiB_idle")
	b.ReportMetric(float64(peakConns.Load()), "server_conns_peak")
	b.ReportMetric(float64(peakSuspended.Load()), "suspended_peak")
	b.ReportMetric(float64(failed), "honest_failed")
	b.ReportMetric(ms(median(waits)), "ms_wait_p50")
	b.ReportMetric(sum(m, "tlslpd_connections_refused_total", `reason="failed_handshakes"`), "refused_failed_handshakes")
	b.Logf("--max-conns %d, --max-suspended-handshakes %d: RSS idle %d MiB, peak %d MiB, bound %d MiB; honest waits %v (failed %d); hellos %+v; partial %+v; silent %+v; server shed %v refused %v, handshakes shed %v",
		maxConns, maxSuspended, idle>>20, peak.Load()>>20, bound>>20, waits, failed, stalled.Stats(), partial.Stats(), silent.Stats(),
		sum(m, "tlslpd_connections_shed_total"), sum(m, "tlslpd_connections_refused_total"), sum(m, "tlslpd_tls_handshakes_shed_total"))
	require.LessOrEqual(b, peak.Load(), bound, "the daemon stays inside the README's memory bound")
	require.Zero(b, failed, "honest sessions complete under the attack")
}
