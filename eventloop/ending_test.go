package eventloop

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testproto"
	"tlslpd/metrics"
	"tlslpd/protocol"
	"tlslpd/statemachine"
	"tlslpd/tlsbridge"
)

// endingCounts reads every counter an ending moves.
func endingCounts(m *metrics.Metrics) map[string]float64 {
	out := map[string]float64{}
	for _, r := range metrics.HandshakeResults() {
		out["handshake:"+r] = testutil.ToFloat64(m.HandshakeCounter(r))
	}
	for _, r := range metrics.RefusedReasons() {
		out["refused:"+r] = testutil.ToFloat64(m.RefusedCounter(r))
	}
	for _, r := range metrics.ShedReasons() {
		out["shed:"+r] = testutil.ToFloat64(m.ShedCounter(r))
	}
	return out
}

// rawTLS dials with direct access to the TCP connection under TLS.
func (h *harness) rawTLS(t *testing.T) (net.Conn, *peer) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", h.addr, ioBound)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	require.NoError(t, raw.SetDeadline(time.Now().Add(ioBound)))
	p := &peer{t: t, conn: tls.Client(raw, h.tlsConfig(withCert))}
	p.r = bufio.NewReader(p.conn)
	return raw, p
}

// TestEveryEndingIsCountedOnce drives each way a connection can end and
// checks that finish acted exactly once: a session leaves one record with
// its outcome; a connection that never became a session leaves no record
// and moves exactly its handshake result (and refusal) counter by one.
func TestEveryEndingIsCountedOnce(t *testing.T) {
	const short = 200 * time.Millisecond
	toWork := func(p *peer) {
		p.expect("HELLO")
		p.send("HELLOBACK")
		p.expect("WORK AUTH 8")
	}
	tests := []struct {
		name   string
		config func(*Config)
		// play drives the client; it may stop the server (stop).
		play func(t *testing.T, h *harness)
		// outcome is the record's; "" means no record.
		outcome string
		// moved are the counters that must grow by one per mention (one
		// handshake:ok is implied for a session).
		moved []string
		// stops: the play ends the server (no loop left to ask for timers).
		stops bool
	}{
		{name: "completed", play: func(t *testing.T, h *harness) {
			playSession(t, h.dial(withCert), protocol.BodyRequests, func(string) string { return "v" })
		}, outcome: "completed"},
		{name: "FAIL bad helloback", play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			p.expect("HELLO")
			p.send("NOPE")
			p.expect(protocol.FailExpectedHelloBack)
			p.expectClosed()
		}, outcome: "bad_helloback"},
		{name: "FAIL bad suffix", play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			toWork(p)
			p.send(testproto.WeakSuffix(t, testToken, 8))
			p.expect(protocol.FailInvalidSuffix)
		}, outcome: "bad_suffix"},
		{name: "FAIL bad checksum", play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			toWork(p)
			p.send(testproto.Suffix(t, testToken, 8))
			p.readLine()
			p.send("nope v")
			p.expect(protocol.FailInvalidChecksum)
		}, outcome: "bad_checksum"},
		{name: "FAIL bad OK", play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			toWork(p)
			answerToDone(t, p)
			p.send("KO")
			p.expect(protocol.FailExpectedOK)
		}, outcome: "bad_ok"},
		{name: "FAIL receiving", play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			p.expect("HELLO")
			p.send("\xff")
			p.expect(protocol.FailReceiving)
		}, outcome: "receive_error"},
		{name: "injected FAIL", config: func(c *Config) {
			c.NewRand = func() statemachine.Rand { return &cycle{script: []int{8}} }
		}, play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			toWork(p)
			p.send(testproto.Suffix(t, testToken, 8))
			p.expect("FAIL " + testRandom)
		}, outcome: "injected_fail"},
		{name: "hello timeout", config: func(c *Config) { c.OtherTimeout = short }, play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			p.expect("HELLO")
			p.expect(protocol.FailHelloTimeout)
		}, outcome: "timeout"},
		{name: "work timeout", config: func(c *Config) { c.WorkTimeout = short }, play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			toWork(p)
			p.expect(protocol.FailWorkTimeout)
		}, outcome: "timeout"},
		{name: "peer closes the socket", play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			toWork(p)
			p.conn.Close()
		}, outcome: "peer_closed"},
		{name: "peer sends close_notify", play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			toWork(p)
			require.NoError(t, p.conn.CloseWrite())
			p.expectClosed()
		}, outcome: "peer_closed"},
		{name: "bad record mid-session", play: func(t *testing.T, h *harness) {
			raw, p := h.rawTLS(t)
			toWork(p)
			_, err := raw.Write([]byte{0x17, 0x03, 0x03, 0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32})
			require.NoError(t, err)
			_, _ = p.r.ReadString('\n') // an alert, then the close
		}, outcome: "transport_error"},
		{name: "shutdown mid-session", config: func(c *Config) { c.DrainTimeout = short }, play: func(t *testing.T, h *harness) {
			p := h.dial(withCert)
			toWork(p)
			require.NoError(t, h.stopServer())
			p.expect(protocol.FailShutdown)
		}, outcome: "shutdown", stops: true},
		{name: "handshake timeout", config: func(c *Config) { c.HandshakeTimeout = short }, play: func(t *testing.T, h *harness) {
			conn, err := net.Dial("tcp", h.addr)
			require.NoError(t, err)
			defer conn.Close()
			expectEOF(t, conn)
		}, moved: []string{"handshake:timeout"}},
		{name: "not TLS", play: func(t *testing.T, h *harness) {
			conn, err := net.Dial("tcp", h.addr)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.Write([]byte("HELLOBACK\n"))
			require.NoError(t, err)
			expectEOF(t, conn)
		}, moved: []string{"handshake:not_tls"}},
		{name: "no client certificate", play: func(t *testing.T, h *harness) {
			p := h.dial(noCert)
			_, err := p.r.ReadString('\n')
			require.Error(t, err)
		}, moved: []string{"handshake:bad_certificate"}},
		{name: "certificate from another CA", play: func(t *testing.T, h *harness) {
			p := h.dial(otherCA)
			_, err := p.r.ReadString('\n')
			require.Error(t, err)
		}, moved: []string{"handshake:bad_certificate"}},
		{name: "peer abandons the handshake", play: func(t *testing.T, h *harness) {
			conn, err := net.Dial("tcp", h.addr)
			require.NoError(t, err)
			_, err = conn.Write([]byte{0x16, 0x03, 0x01, 0x00}) // half a record header
			require.NoError(t, err)
			require.Eventually(t, func() bool { return h.srv.Conns() == 1 }, ioBound, 5*time.Millisecond)
			conn.Close()
		}, moved: []string{"handshake:abandoned"}},
		{name: "shutdown mid-handshake", play: func(t *testing.T, h *harness) {
			conn, err := net.Dial("tcp", h.addr)
			require.NoError(t, err)
			defer conn.Close()
			require.Eventually(t, func() bool { return h.srv.Conns() == 1 }, ioBound, 5*time.Millisecond)
			require.NoError(t, h.stopServer())
			expectEOF(t, conn)
		}, moved: []string{"handshake:canceled"}, stops: true},
		{name: "tutorial already taken", config: func(c *Config) { c.Session.Tutorial = true }, play: func(t *testing.T, h *harness) {
			first := h.dial(withCert)
			first.expect("HELLO")
			second := h.dial(withCert)
			second.expectClosed()
			first.conn.Close()
		}, outcome: "peer_closed", moved: []string{"handshake:ok", "refused:tutorial_busy"}, stops: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startServer(t, tc.config)
			before := endingCounts(h.met)
			tc.play(t, h)
			require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 5*time.Millisecond)

			var recs []Record
		collect:
			for {
				select {
				case r := <-h.records:
					recs = append(recs, r)
				case <-time.After(50 * time.Millisecond):
					break collect
				}
			}
			want := map[string]float64{}
			if tc.outcome != "" {
				require.Len(t, recs, 1, "a session leaves exactly one record")
				assert.Equal(t, tc.outcome, recs[0].Outcome)
				want["handshake:ok"] = 1
			} else {
				assert.Empty(t, recs, "a connection that never became a session leaves no record")
			}
			for _, k := range tc.moved {
				want[k]++
			}
			after := endingCounts(h.met)
			for k := range after {
				assert.Equal(t, want[k], after[k]-before[k], k)
			}
			if !tc.stops {
				assert.Zero(t, h.armedTimers(), "an ended connection leaves no timer behind")
			}
		})
	}
}

// expectEOF waits for the server to close a raw connection.
func expectEOF(t *testing.T, conn net.Conn) {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(ioBound)))
	buf := make([]byte, 512)
	for {
		_, err := conn.Read(buf)
		if err != nil {
			var ne net.Error
			if asNetErr(err, &ne) {
				require.False(t, ne.Timeout(), "the server did not close the connection")
			}
			return
		}
	}
}

func TestHandshakeResultNamesTheError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, metrics.HandshakeAbandoned},
		{tlsbridge.ErrClosed, metrics.HandshakeAbandoned},
		{fmt.Errorf("%w: first bytes 'GET '", tlsbridge.ErrNotTLS), metrics.HandshakeNotTLS},
		{fmt.Errorf("%w: waited longest", tlsbridge.ErrShed), metrics.HandshakeCanceled},
		{fmt.Errorf("%w: %w", tlsbridge.ErrHandshake, x509.UnknownAuthorityError{}), metrics.HandshakeBadCertificate},
		{fmt.Errorf("%w: tls: client didn't provide a certificate", tlsbridge.ErrHandshake), metrics.HandshakeBadCertificate},
		{fmt.Errorf("%w: %w", tlsbridge.ErrHandshake, tlsbridge.ErrIdentityRefused), metrics.HandshakeBadCertificate},
		{fmt.Errorf("%w: tls: no cipher suite supported by both client and server", tlsbridge.ErrHandshake), metrics.HandshakeFailed},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, handshakeResult(tc.err), "%v", tc.err)
	}
}
