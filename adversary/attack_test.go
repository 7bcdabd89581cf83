package adversary

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every test here bounds itself: at most 2,000 attacking connections (the
// server process and this one each stay far below the 20,000-file limit),
// and a context that ends the attack whatever happens.

const attackBound = 60 * time.Second

func attackCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), attackBound)
	t.Cleanup(cancel)
	return ctx
}

// probe runs one honest session and requires that the server served it.
func probeOK(t *testing.T, ctx context.Context, s *server) ProbeResult {
	t.Helper()
	res := Probe{Target: s.target, Timeout: 15 * time.Second}.Run(ctx)
	require.NoError(t, res.Err, "the honest session was not served")
	require.True(t, res.Done(), "honest session outcome %v", res.Outcome)
	return res
}

// A trickling peer (its ClientHello, or its second flight after a whole
// ClientHello, one byte at a time) holds nothing the honest client needs,
// and the handshake deadline, counted from accept, ends it however
// steadily it makes progress.
func TestTricklingHandshakes(t *testing.T) {
	for _, afterHello := range []bool{false, true} {
		name := "client hello"
		if afterHello {
			name = "second flight"
		}
		t.Run(name, func(t *testing.T) {
			// A short handshake deadline keeps the test short; shedding
			// for overload (a tenth of it by default) is not what this
			// test is about, and on a loaded machine could hit the probe.
			s := startServer(t, "--handshake-timeout", "3s", "--shed-delay", "-1s")
			ctx := attackCtx(t)
			before := s.scrape()
			const conns = 200
			run, err := Stall{Target: s.target, Sources: Sources(2, 20), Conns: conns,
				Trickle: 300 * time.Millisecond, TrickleAfterHello: afterHello}.Start(ctx)
			require.NoError(t, err)
			defer run.Stop()
			_, err = run.WaitOpen(ctx, conns, 20*time.Second)
			require.NoError(t, err)

			probeOK(t, ctx, s)
			// Each trickler is closed by the deadline, long before what it
			// trickles (over a thousand bytes at 3 a second) is complete.
			require.Eventually(t, func() bool { return run.Stats().ClosedByServer == conns }, 30*time.Second, 50*time.Millisecond,
				"tricklers closed by the server: %+v", run.Stats())
			if !afterHello {
				assert.Zero(t, run.Stats().HelloSent, "no ClientHello was complete")
			}
			after := s.waitMetric("handshake timeouts counted", 10*time.Second, func(m map[string]float64) bool {
				return sum(m, "tlslpd_tls_handshakes_total", `result="timeout"`) >= sum(before, "tlslpd_tls_handshakes_total", `result="timeout"`)+conns
			})
			assert.Zero(t, sum(after, "tlslpd_connections_open")-sum(before, "tlslpd_connections_open"), "no connection left behind")
			assert.Zero(t, sum(after, "tlslpd_tls_handshakes_suspended"), "no handshake left behind")
		})
	}
}

// A client that pipelines a whole session's replies and then megabytes
// more, never reading a byte, gets its one session served and is closed;
// the server neither waits on it nor buffers what it sent.
func TestPipelinerThatNeverReads(t *testing.T) {
	s := startServer(t)
	ctx := attackCtx(t)
	before := s.scrape()
	res, err := Pipeline{Target: s.target, Source: Sources(2, 1)[0], Token: testToken, NBits: testNBits, Bytes: 4 << 20}.Run(ctx)
	require.NoError(t, err)
	assert.True(t, res.ClosedByServer, "the server must end the session and close: %+v", res)
	assert.Less(t, res.Written, 4<<20, "the server closed before taking everything")

	served := func(m map[string]float64) float64 {
		return sum(m, "tlslpd_sessions_finished_total", `outcome="completed"`) + sum(m, "tlslpd_sessions_finished_total", `outcome="injected_fail"`)
	}
	after := s.waitMetric("the pipelined session finished", 10*time.Second, func(m map[string]float64) bool {
		return sum(m, "tlslpd_sessions_finished_total") > sum(before, "tlslpd_sessions_finished_total") &&
			sum(m, "tlslpd_connections_open") == 0
	})
	assert.Equal(t, served(before)+1, served(after), "served from the pipelined bytes to the protocol's end")
	probeOK(t, ctx, s)
}

// floodEndsWithin is how long a flooder may run before the server must
// have closed it: far more than any per-connection bound needs, far less
// than the step deadline a flooder that trickles line data would outlive.
const floodEndsWithin = 20 * time.Second

// A flooder that sends records without application data (KeyUpdate
// requests, empty records, warning alerts, a TLS 1.2 renegotiation) with a
// byte of line data between every few (so no run of consecutive useless
// records is long) is closed by the server's per-connection bound, long
// before its line grows past the protocol's limit, and the honest client
// is served meanwhile.
func TestPostHandshakeFloodsAreClosed(t *testing.T) {
	for _, fc := range []floodCase{
		{KeyUpdates, false, "key_update"}, {EmptyRecords, false, "empty_records"}, {WarningAlerts, false, ""},
		{EmptyRecords, true, "empty_records"}, {WarningAlerts, true, "alerts"}, {Renegotiation, true, "renegotiation"},
	} {
		t.Run(fc.String(), func(t *testing.T) { checkFloodClosed(t, fc) })
	}
}

type floodCase struct {
	kind  FloodKind
	tls12 bool
	// abuse is the tlslpd_tls_peer_abuse_total reason the server counts
	// the flooder under; "" where the first such record is fatal anyway
	// (TLS 1.3 alerts other than close_notify).
	abuse string
}

func (f floodCase) String() string {
	if f.tls12 {
		return f.kind.String() + " TLS 1.2"
	}
	return f.kind.String() + " TLS 1.3"
}

func checkFloodClosed(t *testing.T, fc floodCase) {
	s := startServer(t)
	ctx := attackCtx(t)
	before := s.scrape()
	const dataEvery = 8 // the line limit would take 8,000 records
	run, err := Flood{Target: s.target, Source: Sources(3, 1)[0], Kind: fc.kind, TLS12: fc.tls12, DataEvery: dataEvery}.Start(ctx)
	require.NoError(t, err)
	defer run.Stop()
	probeOK(t, ctx, s)
	require.True(t, run.Wait(floodEndsWithin), "the server did not close the flooder: %+v", run.Stats())
	st := run.Stats()
	require.Equal(t, int64(1), st.Sessions, "the flood got its session: %v", run.LastErr())
	assert.Equal(t, int64(1), st.ClosedByServer)
	after := s.waitMetric("the flood session finished", 10*time.Second, func(m map[string]float64) bool {
		return sum(m, "tlslpd_connections_open") == 0
	})
	// Besides the honest session, exactly one session ended: the
	// flooder's, closed for what it did, not by the line limit, a
	// deadline or its own leaving.
	ended := finishedDelta(before, after)
	for _, o := range []string{"completed", "injected_fail"} {
		delete(ended, `{outcome="`+o+`"}`)
	}
	require.Len(t, ended, 1, "outcomes: %v", finishedDelta(before, after))
	for o, n := range ended {
		assert.Equal(t, 1.0, n)
		assert.NotContains(t, []string{`{outcome="receive_error"}`, `{outcome="timeout"}`, `{outcome="peer_closed"}`}, o)
	}
	t.Logf("flood %v: %+v; sessions finished: %v", fc, st, finishedDelta(before, after))
	if fc.abuse == "" {
		return
	}
	reason := `reason="` + fc.abuse + `"`
	assert.Equal(t, 1.0, sum(after, "tlslpd_tls_peer_abuse_total", reason)-sum(before, "tlslpd_tls_peer_abuse_total", reason),
		"the flooder counted under its reason")

	// The abuser's address gets no new handshake for a while; the honest
	// client, from another address, is not affected.
	again, err := Flood{Target: s.target, Source: Sources(3, 1)[0], Kind: fc.kind, TLS12: fc.tls12}.Start(ctx)
	require.NoError(t, err)
	again.Wait(floodEndsWithin)
	again.Stop()
	assert.Zero(t, again.Stats().Sessions, "the abuser's next session was refused")
	probeOK(t, ctx, s)
	penalized := s.scrape()
	assert.Positive(t, sum(penalized, "tlslpd_tls_handshakes_penalized_total")-sum(after, "tlslpd_tls_handshakes_penalized_total"))
}

// Stalled handshakes (a complete ClientHello, then silence) from many
// addresses, or many from one address, cost the server memory but never
// the honest client's turn: its session completes while every stalled
// connection is still held, well inside a handshake deadline the stalled
// ones could otherwise sit out.
func TestStalledHandshakes(t *testing.T) {
	tests := []struct {
		name           string
		conns, sources int
	}{
		{"500 from 30 addresses", 500, 30},
		{"200 from one address", 200, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A 60 s handshake deadline: on a server whose stalled
			// handshakes hold its CPU slots, the honest session (15 s
			// patience) could only get in after they time out.
			s := startServer(t, "--handshake-timeout", "60s")
			ctx := attackCtx(t)
			run, err := Stall{Target: s.target, Sources: Sources(2, tc.sources), Conns: tc.conns, Hold: true}.Start(ctx)
			require.NoError(t, err)
			defer run.Stop()
			_, err = run.WaitSent(ctx, int64(tc.conns), 30*time.Second)
			require.NoError(t, err)

			// The server holds them as suspended handshakes: memory, not
			// CPU slots.
			s.waitMetric("stalled handshakes suspended", 30*time.Second, func(m map[string]float64) bool {
				return sum(m, "tlslpd_tls_handshakes_suspended") >= float64(tc.conns*9/10)
			})
			res := probeOK(t, ctx, s)
			st := run.Stats()
			t.Logf("honest handshake wait %v, session %v; attack %+v", res.HandshakeWait, res.Total, st)
			assert.GreaterOrEqual(t, st.Stalled, int64(tc.conns*9/10), "the attack was held while the honest session ran")
		})
	}
}

// One address holding more stalled handshakes than its share of the
// suspended bound (256 here; half of 2,048 by default) loses its oldest
// ones, not the newcomers, and its attack costs no one else their turn.
func TestStalledBeyondAddressShare(t *testing.T) {
	const conns, share = 400, 256
	s := startServer(t, "--handshake-timeout", "60s", "--max-suspended-handshakes-per-ip", strconv.Itoa(share))
	ctx := attackCtx(t)
	run, err := Stall{Target: s.target, Sources: Sources(2, 1), Conns: conns, Hold: true}.Start(ctx)
	require.NoError(t, err)
	defer run.Stop()
	require.Eventually(t, func() bool { return run.Stats().ClosedByServer >= conns-share },
		30*time.Second, 50*time.Millisecond, "the address's oldest handshakes are shed: %+v", run.Stats())
	probeOK(t, ctx, s)
	m := s.scrape()
	assert.LessOrEqual(t, sum(m, "tlslpd_tls_handshakes_suspended"), float64(share), "one address holds at most its share")
	assert.GreaterOrEqual(t, sum(m, "tlslpd_tls_handshakes_shed_total", `reason="address_share"`), float64(conns-share),
		"every handshake shed is counted under its reason")
	t.Logf("attack %+v; suspended %v", run.Stats(), sum(m, "tlslpd_tls_handshakes_suspended"))
}

// A stalled peer that reconnects whenever it is shed would make the server
// compute a first flight for every reconnect; once its address has spent
// its burst of failed handshakes (20 at 1 a second here), its reconnects
// are refused at accept, before any handshake work, and counted, while
// the honest client, whose handshakes complete, is served.
func TestReconnectingStallerIsRefused(t *testing.T) {
	s := startServer(t, "--handshake-timeout", "60s", "--max-suspended-handshakes-per-ip", "16", "--failed-handshakes-per-ip", "1")
	ctx := attackCtx(t)
	run, err := Stall{Target: s.target, Sources: Sources(2, 1), Conns: 100, Hold: true}.Start(ctx)
	require.NoError(t, err)
	defer run.Stop()
	m := s.waitMetric("reconnects refused", 30*time.Second, func(m map[string]float64) bool {
		return sum(m, "tlslpd_connections_refused_total", `reason="failed_handshakes"`) >= 100
	})
	assert.GreaterOrEqual(t, sum(m, "tlslpd_tls_handshakes_shed_total", `reason="address_share"`), 20.0,
		"the burst was spent on handshakes shed past the address's share")
	probeOK(t, ctx, s)
	after := s.scrape()
	assert.Zero(t, sum(after, "tlslpd_connections_refused_total", `reason="failed_handshakes"`)-sum(after, "tlslpd_connections_refused_total"),
		"no other refusal")
	t.Logf("attack %+v; refused %v, shed %v", run.Stats(), sum(after, "tlslpd_connections_refused_total"),
		sum(after, "tlslpd_tls_handshakes_shed_total"))
}

// Offered far more handshakes than it can complete (an open-model load at
// four times the capacity just measured), the server sheds the excess at
// once, counts it, and says so in the log at a bounded cost; the sessions
// it accepts complete.
//
// Where the excess is shed depends on which side the two cores starve: at
// accept when handshakes queue for the CPU (reason overload), or as
// suspended handshakes when the load generator itself is too slow to
// answer (tlslpd_tls_handshakes_shed_total). Either way it is counted.
func TestOverloadIsShedAndReported(t *testing.T) {
	s, open, shed, start := overload(t)
	assert.Positive(t, shed.overload+shed.suspended, "the excess was shed and counted")
	assert.Positive(t, open.good(), "accepted sessions complete")
	checkShedLogged(t, s, shed.overload, start)
}

type sheds struct{ overload, suspended float64 }

// overload measures the server's capacity with a closed-model load, then
// offers it four times that (open model) for 4 s.
func overload(t *testing.T) (s *server, open loadSummary, shed sheds, start time.Time) {
	s = startServer(t)
	ctx := attackCtx(t)
	closed := s.load(ctx, "--workers", "32", "--duration", "3s")
	capacity := closed.good() / closed.DurationSeconds
	require.Positive(t, capacity)
	before := s.scrape()
	start = time.Now()
	open = s.load(ctx, "--rate", strconv.FormatFloat(4*capacity, 'f', 0, 64), "--duration", "4s",
		"--max-inflight", "15000", "--other-timeout", "10", "--grace", "15s")
	after := s.scrape()
	shed.overload = sum(after, "tlslpd_connections_shed_total", `reason="overload"`) - sum(before, "tlslpd_connections_shed_total", `reason="overload"`)
	shed.suspended = sum(after, "tlslpd_tls_handshakes_shed_total") - sum(before, "tlslpd_tls_handshakes_shed_total")
	t.Logf("capacity %.0f/s; at 4x: %d sessions in %.1fs, %v, errors %+v; shed %+v",
		capacity, int(open.Sessions), open.DurationSeconds, open.All, open.Errors, shed)
	return s, open, shed, start
}

// checkShedLogged: a line per reason per interval (10 s) with the count
// and a sample address, never a line per connection; the lines add up to
// the counter.
func checkShedLogged(t *testing.T, s *server, shed float64, start time.Time) {
	var lines []map[string]any
	logged := func() float64 {
		lines = lines[:0]
		n := 0.0
		for _, l := range s.Events() {
			if l["message"] == "connections shed" && l["reason"] == "overload" {
				lines = append(lines, l)
				c, _ := l["count"].(float64)
				n += c
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return logged() >= shed }, 25*time.Second, 100*time.Millisecond,
		"log lines count %v of %v sheds", logged(), shed)
	assert.LessOrEqual(t, len(lines), int(time.Since(start)/(10*time.Second))+2, "one line per interval: %v", lines)
	for _, l := range lines {
		assert.Equal(t, "warn", l["level"])
		assert.Contains(t, l["sample_remote"], "127.0.0.", "a sample source address")
	}
}

// Connections that never send a byte, held open at --max-conns from many
// addresses (each reopened when closed), must not lock the honest client
// out: at the cap the server makes room by closing the connection that
// has waited longest without sending anything, not by refusing the
// newcomer.
func TestSilentConnectionsAtMaxConns(t *testing.T) {
	s := startServer(t, "--max-conns", "300")
	ctx := attackCtx(t)
	run, err := Stall{Target: s.target, Sources: Sources(2, 30), Conns: 300, Hold: true, Silent: true}.Start(ctx)
	require.NoError(t, err)
	defer run.Stop()
	_, err = run.WaitOpen(ctx, 300, 20*time.Second)
	require.NoError(t, err)
	// A connection becomes "unanswered" once it has been silent for a
	// moment (1 s); younger ones may just be slow to speak.
	time.Sleep(1500 * time.Millisecond)
	before := s.scrape()
	for range 3 {
		_, err = run.WaitOpen(ctx, 295, 20*time.Second)
		require.NoError(t, err)
		probeOK(t, ctx, s)
	}
	after := s.scrape()
	reason := `reason="unanswered_at_capacity"`
	assert.Positive(t, sum(after, "tlslpd_connections_shed_total", reason)-sum(before, "tlslpd_connections_shed_total", reason),
		"places were made by shedding silent connections, counted")
	t.Logf("attack %+v", run.Stats())
}
