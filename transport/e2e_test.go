package transport_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/config"
	"tlslpd/daemon"
	"tlslpd/eventloop"
	"tlslpd/internal/testenv"
	"tlslpd/internal/testmetrics"
	"tlslpd/internal/testproto"
	"tlslpd/pow"
	"tlslpd/protocol"
	"tlslpd/statemachine"
	"tlslpd/transport"
)

const (
	testNBits  = 4
	testRandom = "LGTk"
	ioBound    = 10 * time.Second
)

// server is an in-process tlslpd with one listener per transport.
type server struct {
	*testenv.Tlslpd
	env     *testenv.Env
	ports   map[string]int
	metrics string // http://host:port of --metrics-addr

	mu      sync.Mutex
	records []*eventloop.Record
}

func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	env := testenv.New(t)
	metricsPort := testenv.ClosedPort(t)
	args := []string{
		"--n_bits", strconv.Itoa(testNBits), "--random-string", testRandom,
		"--metrics-addr", "127.0.0.1:" + strconv.Itoa(metricsPort),
		"--other-timeout", "5", "--drain-timeout", "1s",
	}
	names := []string{transport.TLS, transport.TCP, transport.Auto, transport.WS, transport.WSS}
	for _, n := range names {
		args = append(args, "--listen", n+"://127.0.0.1:0")
	}
	s := &server{env: env, ports: map[string]int{}, metrics: "http://127.0.0.1:" + strconv.Itoa(metricsPort)}
	s.Tlslpd = env.RunTlslpd(t, daemon.Hooks{OnRecord: func(r *eventloop.Record) {
		s.mu.Lock()
		defer s.mu.Unlock()
		c := *r
		c.Replies = append([]statemachine.Reply(nil), r.Replies...) // the loop reuses the array
		s.records = append(s.records, &c)
	}}, append(args, extra...)...)
	for i, a := range s.Addrs {
		s.ports[names[i]] = a.(*net.TCPAddr).Port
	}
	return s
}

// recordFor waits for the record of the session whose client port is local.
func (s *server) recordFor(t *testing.T, local string) *eventloop.Record {
	t.Helper()
	var rec *eventloop.Record
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, r := range s.records {
			if r.Remote == local {
				rec = r
				return true
			}
		}
		return false
	}, ioBound, 5*time.Millisecond, "no record for %s", local)
	return rec
}

// lineConn is one client connection seen as lines, whatever the transport.
type lineConn interface {
	ReadLine() (string, error)
	WriteLine(line string) error
	Close() error
	LocalAddr() string
}

type streamConn struct {
	c net.Conn
	r *bufio.Reader
}

func (s *streamConn) ReadLine() (string, error) {
	_ = s.c.SetReadDeadline(time.Now().Add(ioBound))
	l, err := s.r.ReadString('\n')
	if err != nil {
		return l, err
	}
	return strings.TrimSuffix(l, "\n"), nil
}
func (s *streamConn) WriteLine(l string) error { _, err := io.WriteString(s.c, l+"\n"); return err }
func (s *streamConn) Close() error             { return s.c.Close() }
func (s *streamConn) LocalAddr() string        { return s.c.LocalAddr().String() }

func (s *server) dial(t *testing.T, name string) lineConn {
	t.Helper()
	raw, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.ports[name]), ioBound)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	var c net.Conn = raw
	if name == transport.TLS || name == transport.WSS {
		tc := tls.Client(raw, s.clientTLS())
		_ = tc.SetDeadline(time.Now().Add(ioBound))
		require.NoError(t, tc.Handshake())
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	if name == transport.WS || name == transport.WSS {
		return dialWS(t, c, transport.DefaultPath)
	}
	return &streamConn{c: c, r: bufio.NewReader(c)}
}

func (s *server) clientTLS() *tls.Config {
	cfg := s.env.ClientTLS.Clone()
	cfg.ServerName = "localhost"
	return cfg
}

// play runs a session with correct answers; it returns the line that
// ended it ("OK" sent after DONE, or the server's FAIL line).
func play(t *testing.T, c lineConn) string {
	t.Helper()
	token := ""
	for {
		line, err := c.ReadLine()
		require.NoError(t, err)
		cmd, rest, _ := strings.Cut(line, " ")
		switch {
		case cmd == "HELLO":
			require.NoError(t, c.WriteLine("HELLOBACK"))
		case cmd == "WORK":
			f := strings.Fields(rest)
			require.Len(t, f, 2)
			token = f[0]
			n, _ := strconv.Atoi(f[1])
			sol, err := pow.Solve(context.Background(), token, n, 1)
			require.NoError(t, err)
			require.NoError(t, c.WriteLine(sol.Suffix))
		case cmd == "DONE":
			require.NoError(t, c.WriteLine("OK"))
			return "OK"
		case cmd == "FAIL":
			return line
		default:
			require.Equal(t, testRandom, rest, "body request %q", line)
			require.NoError(t, c.WriteLine(testproto.Checksum(token, testRandom)+" value of "+cmd))
		}
	}
}

// upToBody answers HELLO and WORK and returns the token and first body line.
func upToWork(t *testing.T, c lineConn) string {
	t.Helper()
	line, err := c.ReadLine()
	require.NoError(t, err)
	require.Equal(t, "HELLO", line)
	require.NoError(t, c.WriteLine("HELLOBACK"))
	line, err = c.ReadLine()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "WORK "), line)
	return strings.Fields(line)[1]
}

// TestConformance runs the same protocol cases over every transport: the
// same lines, the same FAIL lines, the same records, naming the transport.
func TestConformance(t *testing.T) {
	s := startServer(t)
	cases := []struct {
		name    string
		run     func(t *testing.T, c lineConn) string // returns the outcome the record must carry
		outcome string
	}{
		{name: "session", run: func(t *testing.T, c lineConn) string {
			if end := play(t, c); end != "OK" {
				assert.Equal(t, "FAIL "+testRandom, end, "only an injected FAIL may end a correct session")
				return "injected_fail"
			}
			return "completed"
		}},
		{name: "bad suffix", run: func(t *testing.T, c lineConn) string {
			token := upToWork(t, c)
			bad := "x"
			for i := 0; pow.Valid(token, bad, testNBits); i++ {
				bad = "x" + strconv.Itoa(i)
			}
			require.NoError(t, c.WriteLine(bad))
			line, err := c.ReadLine()
			require.NoError(t, err)
			assert.Equal(t, protocol.FailInvalidSuffix, line)
			return "bad_suffix"
		}},
		{name: "bad checksum", run: func(t *testing.T, c lineConn) string {
			token := upToWork(t, c)
			sol, err := pow.Solve(context.Background(), token, testNBits, 1)
			require.NoError(t, err)
			require.NoError(t, c.WriteLine(sol.Suffix))
			line, err := c.ReadLine()
			require.NoError(t, err)
			if strings.HasPrefix(line, "FAIL") {
				return "injected_fail" // drawn before the first body request
			}
			require.NoError(t, c.WriteLine(strings.Repeat("0", 64)+" v"))
			line, err = c.ReadLine()
			require.NoError(t, err)
			assert.Equal(t, protocol.FailInvalidChecksum, line)
			return "bad_checksum"
		}},
		{name: "over-long line", run: func(t *testing.T, c lineConn) string {
			line, err := c.ReadLine()
			require.NoError(t, err)
			require.Equal(t, "HELLO", line)
			require.NoError(t, c.WriteLine(strings.Repeat("x", protocol.MaxLineLength))) // its newline makes it one byte too long
			line, err = c.ReadLine()
			require.NoError(t, err)
			assert.Equal(t, protocol.FailReceiving, line)
			return "receive_error"
		}},
	}
	for _, name := range []string{transport.TLS, transport.TCP, transport.Auto, transport.WS, transport.WSS} {
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				c := s.dial(t, name)
				want := tc.run(t, c)
				rec := s.recordFor(t, c.LocalAddr())
				assert.Equal(t, want, rec.Outcome)
				wantTransport := name
				if name == transport.Auto {
					wantTransport = transport.TCP // a plain client on an auto listener
				}
				assert.Equal(t, wantTransport, rec.Transport)
				if name == transport.TLS || name == transport.WSS {
					assert.NotEmpty(t, rec.Fingerprint, "mTLS identity is reported")
					assert.NotEmpty(t, rec.TLSVersion)
				} else {
					assert.Empty(t, rec.TLSVersion)
				}
				c.Close()
			})
		}
	}
	series := testmetrics.Scrape(t, s.metrics+"/metrics")
	for n, want := range map[string]float64{"tls": 4, "tcp": 8, "ws": 4, "wss": 4, "auto": 0} { // auto's plain clients count as tcp
		assert.Equal(t, want, series.Get(t, `tlslpd_transport_sessions_total{transport="`+n+`"}`), n)
	}
	assert.Equal(t, 4.0, series.Get(t, `tlslpd_transport_connections_total{transport="auto"}`))
	assert.Equal(t, 8.0, series.Get(t, `tlslpd_tls_handshakes_total{result="ok"}`), "only TLS and wss sessions did TLS handshakes")
}

// scrape reads /metrics into series name{labels} -> value.
// TestDeadlinesAndDrainOnEveryTransport: the step deadline and the drain
// end sessions the same way on every transport, with the same FAIL lines
// and records.
func TestDeadlinesAndDrainOnEveryTransport(t *testing.T) {
	s := startServer(t, "--other-timeout", "1", "--drain-timeout", "1s")
	names := []string{transport.TLS, transport.TCP, transport.Auto, transport.WS, transport.WSS}
	t.Run("timeout", func(t *testing.T) {
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := s.dial(t, name)
				line, err := c.ReadLine()
				require.NoError(t, err)
				require.Equal(t, "HELLO", line)
				line, err = c.ReadLine() // say nothing: the step deadline ends it
				require.NoError(t, err)
				assert.Equal(t, protocol.FailHelloTimeout, line)
				rec := s.recordFor(t, c.LocalAddr())
				assert.Equal(t, "timeout", rec.Outcome)
			})
		}
	})
	// Sessions parked in WORK when the daemon stops: after the drain
	// timeout each gets the shutdown FAIL line and a record.
	conns := map[string]lineConn{}
	for _, name := range names {
		c := s.dial(t, name)
		upToWork(t, c)
		conns[name] = c
	}
	s.Stop()
	for name, c := range conns {
		line, err := c.ReadLine()
		require.NoError(t, err, name)
		assert.Equal(t, protocol.FailShutdown, line, name)
		assert.Equal(t, "shutdown", s.recordFor(t, c.LocalAddr()).Outcome, name)
	}
}

func TestListenersFromYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tlslpd.yaml")
	require.NoError(t, os.WriteFile(path, []byte("listen:\n  - tls://127.0.0.1:1234\n  - tcp://127.0.0.1:1235\n  - ws://127.0.0.1:8080/play\nauto-wait: 100ms\n"), 0o644))
	cfg, err := config.Parse("tlslpd", []string{"--config", path}, nil)
	require.NoError(t, err)
	var got []string
	for _, l := range cfg.Listeners() {
		got = append(got, l.String())
	}
	assert.Equal(t, []string{"tls://127.0.0.1:1234", "tcp://127.0.0.1:1235", "ws://127.0.0.1:8080/play"}, got)
	assert.Equal(t, 100*time.Millisecond, cfg.AutoWait)

	require.NoError(t, os.WriteFile(path, []byte("listen: [ws://0.0.0.0:8080]\n"), 0o644))
	_, err = config.Parse("tlslpd", []string{"--config", path}, nil)
	require.ErrorIs(t, err, config.ErrUsage)
	assert.Contains(t, err.Error(), "--allow-plain")
}

// TestAutoDetect serves a TLS client and a plain client on one auto port,
// and a TLS client whose first byte arrives alone.
func TestAutoDetect(t *testing.T) {
	s := startServer(t)
	addr := "127.0.0.1:" + strconv.Itoa(s.ports[transport.Auto])

	t.Run("tls client", func(t *testing.T) {
		raw, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer raw.Close()
		tc := tls.Client(raw, s.clientTLS())
		c := &streamConn{c: tc, r: bufio.NewReader(tc)}
		_ = play(t, c)
		rec := s.recordFor(t, raw.LocalAddr().String())
		assert.Equal(t, transport.TLS, rec.Transport)
		assert.NotEmpty(t, rec.Fingerprint)
	})
	t.Run("plain client waits for HELLO", func(t *testing.T) {
		c := s.dial(t, transport.Auto)
		_ = play(t, c)
		assert.Equal(t, transport.TCP, s.recordFor(t, c.LocalAddr()).Transport)
	})
	t.Run("plain client that speaks first", func(t *testing.T) {
		raw, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer raw.Close()
		// Sent before HELLO: decided plain on 'H', and the line is the
		// HELLO step's answer, read once HELLO is out.
		_, err = io.WriteString(raw, "HELLOBACK\n")
		require.NoError(t, err)
		c := &streamConn{c: raw, r: bufio.NewReader(raw)}
		line, err := c.ReadLine()
		require.NoError(t, err)
		assert.Equal(t, "HELLO", line)
		line, err = c.ReadLine()
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(line, "WORK "), line)
		assert.Equal(t, transport.TCP, s.recordAfterClose(t, raw).Transport)
	})
	t.Run("tls first byte alone", func(t *testing.T) {
		raw, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer raw.Close()
		sc := &slowStartConn{Conn: raw}
		tc := tls.Client(sc, s.clientTLS())
		c := &streamConn{c: tc, r: bufio.NewReader(tc)}
		_ = play(t, c)
		assert.True(t, sc.split, "the first byte went alone")
		assert.Equal(t, transport.TLS, s.recordFor(t, raw.LocalAddr().String()).Transport)
	})
}

func (s *server) recordAfterClose(t *testing.T, c net.Conn) *eventloop.Record {
	local := c.LocalAddr().String()
	c.Close()
	return s.recordFor(t, local)
}

// slowStartConn sends the first byte of its first write alone, then
// waits before the rest: auto-detect must decide on that byte.
type slowStartConn struct {
	net.Conn
	split bool
}

func (c *slowStartConn) Write(p []byte) (int, error) {
	if c.split || len(p) < 2 {
		return c.Conn.Write(p)
	}
	c.split = true
	if _, err := c.Conn.Write(p[:1]); err != nil {
		return 0, err
	}
	time.Sleep(50 * time.Millisecond)
	n, err := c.Conn.Write(p[1:])
	return n + 1, err
}

func TestListenAddressesInConfig(t *testing.T) {
	_, err := config.Parse("tlslpd", []string{"--listen", "tcp://0.0.0.0:1"}, nil)
	require.ErrorIs(t, err, config.ErrUsage)
	assert.Contains(t, err.Error(), "--allow-plain")
	_, err = config.Parse("tlslpd", []string{"--listen", "tcp://0.0.0.0:1", "--allow-plain"}, nil)
	require.NoError(t, err)
	_, err = config.Parse("tlslpd", []string{"--listen", "ftp://127.0.0.1:1"}, nil)
	require.ErrorIs(t, err, config.ErrUsage)
	assert.Contains(t, err.Error(), "unknown scheme")
	cfg, err := config.Parse("tlslpd", []string{"--listen", "127.0.0.1:0x", "--listen", "ws://[::1]:8080"}, nil)
	if err == nil {
		t.Fatalf("port 0x accepted: %v", cfg.Listen)
	}
	cfg, err = config.Parse("tlslpd", []string{"--listen", "127.0.0.1:0100", "--listen", "ws://[::1]:8080", "--listen", "wss://0.0.0.0:9/x"}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"tcp://127.0.0.1:100", "tcp://[::1]:8080", "tcp://0.0.0.0:9"}, cfg.ListenAddrs())
	got := []string{}
	for _, l := range cfg.Listeners() {
		got = append(got, l.String())
	}
	assert.Equal(t, []string{"tls://127.0.0.1:100", "ws://[::1]:8080/tlslp", "wss://0.0.0.0:9/x"}, got)
}
