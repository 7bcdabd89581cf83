package eventloop

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testlog"
	"tlslpd/metrics"
)

func TestNoticesReportOneLinePerReason(t *testing.T) {
	var out testlog.Buffer
	log := zerolog.New(&out)
	var n notices
	a := netip.MustParseAddrPort("192.0.2.7:4000")
	b := netip.MustParseAddrPort("198.51.100.1:5000")
	for range 500 {
		n.add(noticeHandshake, metrics.HandshakeBadCertificate, a)
	}
	n.add(noticeHandshake, metrics.HandshakeBadCertificate, b)
	n.add(noticeHandshake, metrics.HandshakeAbandoned, b)
	n.add(noticeRefused, metrics.RefusedMaxConns, b)
	n.add(noticeShed, metrics.ShedOverload, a)
	n.report(log, 10*time.Second)

	failed := out.WithMessage(t, "TLS handshakes failed")
	require.Len(t, failed, 2, "one line per reason, not one per connection")
	assert.Equal(t, map[string]any{"level": "info", "reason": "abandoned", "count": 1.0, "interval_seconds": 10.0, "sample_remote": "198.51.100.1:5000", "message": "TLS handshakes failed"}, failed[0])
	assert.Equal(t, map[string]any{"level": "warn", "reason": "bad_certificate", "count": 501.0, "interval_seconds": 10.0, "sample_remote": "192.0.2.7:4000", "message": "TLS handshakes failed"}, failed[1])
	refused := out.WithMessage(t, "connections refused")
	require.Len(t, refused, 1)
	assert.Equal(t, "warn", refused[0]["level"], "--max-conns reached is for the operator to see")
	shed := out.WithMessage(t, "connections shed")
	require.Len(t, shed, 1)
	assert.Equal(t, "overload", shed[0]["reason"])

	out.Reset()
	n.report(log, 10*time.Second)
	assert.Empty(t, out.String(), "an interval without events logs nothing")
}

// Bad client certificates and --max-conns refusals reach the log at WARN,
// summed up per interval.
func TestRefusalsAndBadCertificatesAreLogged(t *testing.T) {
	var out testlog.Buffer
	h := startServer(t, func(c *Config) {
		c.Logger = zerolog.New(&out).Level(zerolog.InfoLevel)
		c.NoticeInterval = time.Second
		c.MaxConns = 1
	})
	holder := h.dial(withCert)
	holder.expect("HELLO")
	for range 3 {
		conn, err := net.Dial("tcp", h.addr)
		require.NoError(t, err)
		expectEOF(t, conn)
		conn.Close()
	}
	holder.conn.Close()
	require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 5*time.Millisecond)
	for range 4 {
		p := h.dial(otherCA)
		_, err := p.r.ReadString('\n')
		require.Error(t, err)
		p.conn.Close()
		// The alert may arrive before the server has closed its side:
		// wait, so that the next one is not refused by MaxConns.
		require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 5*time.Millisecond)
	}

	sum := func(msg, reason string) (total float64, lines int) {
		for _, l := range out.WithMessage(t, msg) {
			if l["reason"] == reason {
				assert.Equal(t, "warn", l["level"])
				assert.Contains(t, l["sample_remote"], "127.0.0.1:")
				total += l["count"].(float64)
				lines++
			}
		}
		return total, lines
	}
	require.Eventually(t, func() bool {
		refused, _ := sum("connections refused", metrics.RefusedMaxConns)
		bad, _ := sum("TLS handshakes failed", metrics.HandshakeBadCertificate)
		return refused == 3 && bad == 4
	}, ioBound, 50*time.Millisecond)
	_, lines := sum("TLS handshakes failed", metrics.HandshakeBadCertificate)
	assert.Less(t, lines, 4, "summed up, not a line per connection")
}
