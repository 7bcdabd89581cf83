package eventloop

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/metrics"
)

func TestShedderDecidesPerWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	type step struct {
		at        time.Duration   // since t0
		waits     []time.Duration // handshakes completed before the tick
		lag       time.Duration
		shedAfter bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"quick handshakes never shed", []step{
			{at: 100 * ms, waits: []time.Duration{2 * ms, 5 * ms}, lag: ms},
			{at: 200 * ms, waits: []time.Duration{3 * ms}, lag: ms},
		}},
		{"one slow peer among quick ones does not shed", []step{
			{at: 100 * ms, waits: []time.Duration{900 * ms, 4 * ms}, lag: ms},
		}},
		{"every handshake waiting long sheds, until they are quick again", []step{
			{at: 100 * ms, waits: []time.Duration{400 * ms, 300 * ms}, lag: ms, shedAfter: true},
			{at: 150 * ms, waits: []time.Duration{10 * ms}, lag: ms, shedAfter: true}, // mid-window: no decision yet
			{at: 200 * ms, waits: []time.Duration{250 * ms}, lag: ms, shedAfter: false},
		}},
		{"a loop late for its tick sheds", []step{
			{at: 100 * ms, lag: 300 * ms, shedAfter: true},
			{at: 200 * ms, lag: 5 * ms, shedAfter: false},
		}},
		{"lag and wait add up", []step{
			{at: 100 * ms, waits: []time.Duration{120 * ms}, lag: 120 * ms, shedAfter: true},
		}},
		{"no handshakes and a prompt tick: no shedding", []step{
			{at: 100 * ms, lag: ms},
			{at: 10 * time.Second, lag: ms},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newShedder(200*ms, t0)
			for i, st := range tc.steps {
				for _, w := range st.waits {
					d.handshakeDone(w)
				}
				d.tick(t0.Add(st.at), st.lag)
				assert.Equal(t, st.shedAfter, d.shedding, "step %d", i)
			}
		})
	}
	t.Run("a zero target never sheds", func(t *testing.T) {
		d := newShedder(0, t0)
		d.handshakeDone(time.Hour)
		d.tick(t0.Add(time.Second), time.Hour)
		assert.False(t, d.shedding)
	})
}

// slowSecondFlight delays every write after the first (the ClientHello)
// by delay, or holds it until release is closed: a client slow to finish
// its handshake, or one that stalls after its ClientHello.
type slowSecondFlight struct {
	net.Conn
	mu      sync.Mutex
	writes  int
	delay   time.Duration
	release chan struct{}
}

func (c *slowSecondFlight) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	n := c.writes
	c.mu.Unlock()
	if n > 1 {
		if c.release != nil {
			<-c.release
		} else {
			time.Sleep(c.delay)
		}
	}
	return c.Conn.Write(p)
}

func (h *harness) dialSlow(t *testing.T, delay time.Duration, release chan struct{}) *peer {
	t.Helper()
	raw, err := net.DialTimeout("tcp", h.addr, ioBound)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	require.NoError(t, raw.SetDeadline(time.Now().Add(ioBound)))
	conn := tls.Client(&slowSecondFlight{Conn: raw, delay: delay, release: release}, h.tlsConfig(withCert))
	return &peer{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// When handshakes wait longer than ShedDelay, new connections are closed
// at once and counted; once handshakes are quick again, they are served.
func TestOverloadShedsAtAcceptAndRecovers(t *testing.T) {
	const slowWait = 400 * time.Millisecond
	h := startServer(t, func(c *Config) {
		c.Loops = 1 // one loop, one shedder: every newcomer meets it
		c.ShedDelay = 200 * time.Millisecond
	})
	shed := h.met.ShedCounter(metrics.ShedOverload)

	// Slow handshakes complete over several windows, one every 50 ms.
	var slow sync.WaitGroup
	for range 6 {
		p := h.dialSlow(t, slowWait, nil)
		slow.Add(1)
		go func() {
			defer slow.Done()
			_ = p.conn.Handshake()
		}()
		time.Sleep(50 * time.Millisecond)
	}

	// Meanwhile newcomers are closed at once. A raw connection that is
	// admitted just waits for its ClientHello; one that is shed reads EOF.
	closedAtOnce := false
	for deadline := time.Now().Add(ioBound); !closedAtOnce && time.Now().Before(deadline); {
		conn, err := net.Dial("tcp", h.addr)
		require.NoError(t, err)
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err = conn.Read(make([]byte, 1))
		require.Error(t, err, "the server never writes first")
		var ne net.Error
		closedAtOnce = !(asNetErr(err, &ne) && ne.Timeout())
		conn.Close()
	}
	require.True(t, closedAtOnce, "a newcomer is closed at once while handshakes wait long")
	assert.Positive(t, testutil.ToFloat64(shed), "and counted as shed")
	slow.Wait()

	// Windows without slow handshakes end the shedding.
	require.Eventually(t, func() bool {
		p, err := h.dialAs(&recorder{}, h.tlsConfig(withCert))
		if err != nil {
			return false
		}
		defer p.conn.Close()
		line, err := p.r.ReadString('\n')
		return err == nil && line == "HELLO\n"
	}, ioBound, 50*time.Millisecond, "the loop serves again once handshakes are quick")
}

// Peers that stall after their ClientHello cost no CPU and never complete:
// they must not make the server shed honest clients.
func TestStalledHandshakesDoNotShed(t *testing.T) {
	h := startServer(t, func(c *Config) { c.ShedDelay = time.Second })
	release := make(chan struct{})
	defer close(release)
	var stalled sync.WaitGroup
	for range 40 {
		p := h.dialSlow(t, 0, release)
		stalled.Add(1)
		go func() {
			defer stalled.Done()
			_ = p.conn.Handshake() // blocks on the held second flight
		}()
	}
	require.Eventually(t, func() bool { return h.srv.Conns() == 40 }, ioBound, 5*time.Millisecond)
	time.Sleep(3 * shedWindow) // several windows pass with the stalled peers held

	for range 3 {
		p := h.dial(withCert)
		p.expect("HELLO")
		p.conn.Close()
	}
	assert.Zero(t, testutil.ToFloat64(h.met.ShedCounter(metrics.ShedOverload)))
	t.Cleanup(stalled.Wait)
}
