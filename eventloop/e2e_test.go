package eventloop

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testproto"
	"tlslpd/metrics"
	"tlslpd/protocol"
	"tlslpd/statemachine"
)

// playSession runs the whole happy path as a well-behaved client would.
func playSession(t testingT, p *peer, requests int, answer func(cmd string) string) {
	p.expect("HELLO")
	p.send("HELLOBACK")
	work := strings.Fields(p.readLine())
	require.Len(t, work, 3)
	require.Equal(t, "WORK", work[0])
	var nBits int
	_, err := fmt.Sscan(work[2], &nBits)
	require.NoError(t, err)
	p.send(testproto.Suffix(t, work[1], nBits))
	cksum := testproto.Checksum(work[1], testRandom)
	for i := range requests {
		req := strings.Fields(p.readLine())
		require.Len(t, req, 2, "request %d", i)
		require.Equal(t, testRandom, req[1])
		p.send(cksum + " " + answer(req[0]))
	}
	p.expect("DONE")
	p.send("OK")
	p.expectClosed()
}

// answerToDone answers the harness's WORK (testToken at 8 bits), answers
// every body request with "v" and reads DONE: a session up to its last
// reply.
func answerToDone(t testingT, p *peer) {
	p.send(testproto.Suffix(t, testToken, 8))
	cksum := testproto.Checksum(testToken, testRandom)
	for range protocol.BodyRequests {
		p.readLine()
		p.send(cksum + " v")
	}
	p.expect("DONE")
}

func TestHappyPathNormalMode(t *testing.T) {
	h := startServer(t, nil)
	p := h.dial(withCert)
	var asked []string
	playSession(t, p, protocol.BodyRequests, func(cmd string) string {
		asked = append(asked, cmd)
		return "value of " + cmd
	})
	for i, cmd := range asked {
		assert.Equal(t, protocol.BodyCommands[i%8], cmd)
	}

	rec := h.record()
	assert.Equal(t, "completed", rec.Outcome)
	assert.Equal(t, "CN=tlslp-client,O=tlslpd", rec.Subject)
	assert.Len(t, rec.Fingerprint, 64)
	assert.Equal(t, "TLS 1.3", rec.TLSVersion)
	require.Len(t, rec.Replies, protocol.BodyRequests)
	assert.Equal(t, statemachine.Reply{Command: "EMAIL1", Value: "value of EMAIL1"}, rec.Replies[1])
	assert.Positive(t, rec.WorkDuration)
	assert.GreaterOrEqual(t, rec.Duration, rec.WorkDuration)
	assert.Equal(t, 8, rec.NBits)
	assert.Equal(t, 1.0, testutil.ToFloat64(h.met.PoWValid))
	assert.Equal(t, 1.0, testutil.ToFloat64(h.met.HandshakesOK))
}

func TestRandomTokenPerSession(t *testing.T) {
	h := startServer(t, func(c *Config) { c.Session.Token = "" })
	tokens := map[string]bool{}
	for range 3 {
		p := h.dial(withCert)
		p.expect("HELLO")
		p.send("HELLOBACK")
		work := strings.Fields(p.readLine())
		require.Len(t, work[1], protocol.TokenLength)
		require.False(t, tokens[work[1]], "token reused across sessions")
		tokens[work[1]] = true
		p.conn.Close()
	}
}

func TestTutorialServesOneSessionThenRunReturns(t *testing.T) {
	h := startServer(t, func(c *Config) {
		c.Session.Tutorial = true
		c.Session.Token = ""
	})
	// A connection that never completes the handshake is not the session.
	idle, err := net.Dial("tcp", h.addr)
	require.NoError(t, err)
	defer idle.Close()

	p := h.dial(withCert)
	p.expect("HELLO")
	p.send("HELLOBACK")
	work := strings.Fields(p.readLine())
	require.Equal(t, protocol.DefaultToken, work[1], "tutorial without --token uses the reference token")
	p.send(testproto.Suffix(t, work[1], 8))
	cksum := testproto.Checksum(work[1], testRandom)
	for _, cmd := range protocol.BodyCommands {
		p.expect(cmd + " " + testRandom)
		p.send(cksum + " x")
	}
	p.expect("DONE")
	p.send("OK")
	p.expectClosed()
	assert.Equal(t, "completed", h.record().Outcome)

	select {
	case err := <-h.runErr:
		require.NoError(t, err)
		h.runErr <- nil // let the cleanup see the stop too
	case <-time.After(ioBound):
		t.Fatal("Run did not return after the tutorial session")
	}
}

func TestFailLines(t *testing.T) {
	cksum := testproto.Checksum(testToken, testRandom)
	tests := []struct {
		name    string
		script  []int
		play    func(t *testing.T, p *peer)
		want    string
		outcome string
	}{
		{
			name: "bad helloback",
			play: func(t *testing.T, p *peer) { p.send("HELLO BACK") },
			want: protocol.FailExpectedHelloBack, outcome: "bad_helloback",
		},
		{
			name: "weak suffix",
			play: func(t *testing.T, p *peer) {
				p.send("HELLOBACK")
				p.expect("WORK AUTH 8")
				p.send(testproto.WeakSuffix(t, testToken, 8))
			},
			want: protocol.FailInvalidSuffix, outcome: "bad_suffix",
		},
		{
			name: "bad checksum",
			play: func(t *testing.T, p *peer) {
				p.send("HELLOBACK")
				p.expect("WORK AUTH 8")
				p.send(testproto.Suffix(t, testToken, 8))
				p.expect("FULL_NAME LGTk")
				p.send(strings.Repeat("a", 64) + " Ada")
			},
			want: protocol.FailInvalidChecksum, outcome: "bad_checksum",
		},
		{
			name: "bad reply to DONE",
			play: func(t *testing.T, p *peer) {
				p.send("HELLOBACK")
				p.expect("WORK AUTH 8")
				answerToDone(t, p)
				p.send("OKAY")
			},
			want: protocol.FailExpectedOK, outcome: "bad_ok",
		},
		{
			name: "over-long line",
			play: func(t *testing.T, p *peer) { p.send(strings.Repeat("x", protocol.MaxLineLength+1)) },
			want: protocol.FailReceiving, outcome: "receive_error",
		},
		{
			name: "over-long line without newline",
			play: func(t *testing.T, p *peer) {
				_, err := p.conn.Write(bytes.Repeat([]byte("y"), protocol.MaxLineLength+1))
				require.NoError(t, err)
			},
			want: protocol.FailReceiving, outcome: "receive_error",
		},
		{
			name: "invalid utf-8",
			play: func(t *testing.T, p *peer) { p.send("HELLO\xffBACK") },
			want: protocol.FailReceiving, outcome: "receive_error",
		},
		{
			name:   "injected FAIL",
			script: []int{0, 1, 8},
			play: func(t *testing.T, p *peer) {
				p.send("HELLOBACK")
				p.expect("WORK AUTH 8")
				p.send(testproto.Suffix(t, testToken, 8))
				p.expect("FULL_NAME LGTk")
				p.send(cksum + " a")
				p.expect("EMAIL1 LGTk")
				p.send(cksum + " b")
			},
			want: "FAIL LGTk", outcome: "injected_fail",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startServer(t, func(c *Config) {
				if tc.script != nil {
					c.NewRand = func() statemachine.Rand { return &cycle{script: tc.script} }
				}
			})
			p := h.dial(withCert)
			p.expect("HELLO")
			tc.play(t, p)
			p.expect(tc.want)
			p.expectClosed()
			rec := h.record()
			assert.Equal(t, tc.outcome, rec.Outcome)
			assert.Equal(t, tc.want, rec.FailLine)
			require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 5*time.Millisecond)
			assert.Zero(t, h.armedTimers(), "a failed session leaves no timer behind")
		})
	}
}

func TestDeadlines(t *testing.T) {
	const short = 300 * time.Millisecond
	tests := []struct {
		name    string
		play    func(t *testing.T, p *peer)
		want    string
		minWait time.Duration
	}{
		{"hello", func(t *testing.T, p *peer) {}, protocol.FailHelloTimeout, short},
		{"work", func(t *testing.T, p *peer) {
			p.send("HELLOBACK")
			p.expect("WORK AUTH 8")
		}, protocol.FailWorkTimeout, 2 * short},
		{"body", func(t *testing.T, p *peer) {
			p.send("HELLOBACK")
			p.expect("WORK AUTH 8")
			p.send(testproto.Suffix(t, testToken, 8))
			p.expect("FULL_NAME LGTk")
		}, protocol.FailBodyTimeout, short},
		{"done", func(t *testing.T, p *peer) {
			p.send("HELLOBACK")
			p.expect("WORK AUTH 8")
			answerToDone(t, p)
		}, protocol.FailDoneTimeout, short},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startServer(t, func(c *Config) {
				c.OtherTimeout = short
				c.WorkTimeout = 2 * short // distinct, so a mix-up shows
			})
			p := h.dial(withCert)
			p.expect("HELLO")
			tc.play(t, p)
			began := time.Now()
			p.expect(tc.want)
			waited := time.Since(began)
			p.expectClosed()
			// Never early; late by at most a tick plus scheduling slack.
			assert.GreaterOrEqual(t, waited, tc.minWait-20*time.Millisecond)
			assert.Equal(t, "timeout", h.record().Outcome)
		})
	}
}

func TestHandshakeTimeoutClosesSilentConnection(t *testing.T) {
	const timeout = 200 * time.Millisecond
	h := startServer(t, func(c *Config) { c.HandshakeTimeout = timeout })
	for _, partial := range [][]byte{nil, {0x16, 0x03, 0x01, 0x00}} { // nothing; half a record header
		// The server starts the deadline when it accepts, which may be
		// long before a busy machine resumes this goroutine after Dial, but
		// never before Dial began: time from there, and the close can never
		// come earlier than the deadline.
		began := time.Now()
		conn, err := net.Dial("tcp", h.addr)
		require.NoError(t, err)
		if partial != nil {
			_, err = conn.Write(partial)
			require.NoError(t, err)
		}
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(ioBound)))
		_, err = io.ReadAll(conn)
		require.NoError(t, err, "server should close, not time out the reader")
		assert.GreaterOrEqual(t, time.Since(began), timeout, "closed before the handshake deadline")
		conn.Close()
	}
	require.Eventually(t, func() bool { return testutil.ToFloat64(h.met.HandshakeCounter(metrics.HandshakeTimeout)) == 2 }, ioBound, 10*time.Millisecond)
	require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 10*time.Millisecond)
	assert.Zero(t, h.armedTimers())
}

func TestMutualTLSRefusals(t *testing.T) {
	for name, opt := range map[string]clientOpt{"no client cert": noCert, "cert from another CA": otherCA} {
		t.Run(name, func(t *testing.T) {
			h := startServer(t, nil)
			p := h.dial(opt)
			// TLS 1.3 clients learn of the refusal on their first read.
			err := p.conn.Handshake()
			if err == nil {
				_, err = p.r.ReadString('\n')
			}
			require.Error(t, err)
			require.Eventually(t, func() bool { return testutil.ToFloat64(h.met.HandshakeCounter(metrics.HandshakeBadCertificate)) == 1 }, ioBound, 10*time.Millisecond)
			assert.Zero(t, testutil.ToFloat64(h.met.HandshakesOK))
			require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 10*time.Millisecond)
		})
	}
}

func TestPlaintextGarbageIsDroppedQuickly(t *testing.T) {
	h := startServer(t, nil) // 5 s handshake deadline: a prompt close is not a timeout
	for _, garbage := range []string{"HELLOBACK\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x00\x00\x00\x00\x00\x00"} {
		conn, err := net.Dial("tcp", h.addr)
		require.NoError(t, err)
		_, err = conn.Write([]byte(garbage))
		require.NoError(t, err)
		began := time.Now()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(ioBound)))
		_, err = io.ReadAll(conn)
		require.NoError(t, err)
		assert.Less(t, time.Since(began), 2*time.Second, "%q", garbage)
		conn.Close()
	}
	require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 10*time.Millisecond)
	assert.Zero(t, h.armedTimers())
}

// TestPipelinedAndBytewiseInput sends a whole session in one write, and one
// byte per TLS record: the framing must not care.
func TestPipelinedAndBytewiseInput(t *testing.T) {
	cksum := testproto.Checksum(testToken, testRandom)
	var script strings.Builder
	script.WriteString("HELLOBACK\n")
	script.WriteString(testproto.Suffix(t, testToken, 8) + "\n")
	for i := range protocol.BodyRequests {
		fmt.Fprintf(&script, "%s answer %d\n", cksum, i)
	}
	script.WriteString("OK\n")
	whole := []byte(script.String())

	for _, mode := range []string{"pipelined", "bytewise"} {
		t.Run(mode, func(t *testing.T) {
			h := startServer(t, nil)
			p := h.dial(withCert)
			p.expect("HELLO")
			if mode == "pipelined" {
				_, err := p.conn.Write(whole)
				require.NoError(t, err)
			} else {
				for i := range whole {
					_, err := p.conn.Write(whole[i : i+1])
					require.NoError(t, err)
				}
			}
			p.expect("WORK AUTH 8")
			for i := range protocol.BodyRequests {
				p.expect(protocol.BodyCommands[i%8] + " " + testRandom)
			}
			p.expect("DONE")
			p.expectClosed()
			rec := h.record()
			assert.Equal(t, "completed", rec.Outcome)
			assert.Equal(t, "answer 19", rec.Replies[19].Value)
		})
	}
}

func TestPeerVanishingMidSessionIsRecorded(t *testing.T) {
	h := startServer(t, nil)
	p := h.dial(withCert)
	p.expect("HELLO")
	p.send("HELLOBACK")
	p.expect("WORK AUTH 8")
	p.conn.Close()
	rec := h.record()
	assert.Equal(t, "peer_closed", rec.Outcome)
	assert.Equal(t, "work", rec.LastStep)
	require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 10*time.Millisecond)
}

func TestMaxConnsRefusesExcess(t *testing.T) {
	h := startServer(t, func(c *Config) { c.MaxConns = 2 })
	a := h.dial(withCert)
	a.expect("HELLO")
	b := h.dial(withCert)
	b.expect("HELLO")
	conn, err := net.Dial("tcp", h.addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(ioBound)))
	_, err = io.ReadAll(conn)
	require.NoError(t, err, "the third connection must be closed at once")
	assert.Equal(t, int64(2), h.srv.Conns())
}

func TestThousandConcurrentSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("concurrency test; run without -short")
	}
	const sessions = 1000 // client + server fds: 2000, well under the 20000 limit
	// Deadlines generous enough for 1000 simultaneous handshakes on a busy
	// 2-core machine under -race: this test is about concurrency, not time.
	h := startServer(t, func(c *Config) {
		c.Session.NBits = 4
		c.HandshakeTimeout = time.Minute
		c.OtherTimeout = time.Minute
	})
	goroutinesBefore := runtime.NumGoroutine()
	cfg := h.tlsConfig(withCert)

	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	ready := make(chan struct{})
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			if err := quietSession(h, cfg, i); err != nil {
				errs <- fmt.Errorf("session %d: %w", i, err)
			}
		}()
	}
	close(ready)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	completed := 0
	for range sessions {
		if h.record().Outcome == "completed" {
			completed++
		}
	}
	assert.Equal(t, sessions, completed)
	require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 10*time.Millisecond)
	assert.Zero(t, h.armedTimers(), "every session's timer is cancelled")
	// Idle handshake runners stay for the next handshakes; nothing else may.
	require.Eventually(t, func() bool {
		return runtime.NumGoroutine() <= goroutinesBefore+5+int(h.tls.Stats().IdleCoroutines)
	}, ioBound, 20*time.Millisecond,
		"goroutines: before %d, now %d, idle runners %d", goroutinesBefore, runtime.NumGoroutine(), h.tls.Stats().IdleCoroutines)
}

// quietSession is playSession reporting failure as an error, for use from
// many goroutines at once.
func quietSession(h *harness, cfg *tls.Config, i int) (err error) {
	rec := &recorder{}
	defer func() {
		if r := recover(); r != nil {
			if r != errFailed {
				panic(r)
			}
			err = fmt.Errorf("%s", rec.failed)
		}
	}()
	p, err := h.dialAs(rec, cfg)
	if err != nil {
		return err
	}
	defer p.conn.Close()
	if err := p.conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		return err
	}
	playSession(rec, p, protocol.BodyRequests, func(cmd string) string { return fmt.Sprintf("%s-%d", cmd, i) })
	return nil
}
