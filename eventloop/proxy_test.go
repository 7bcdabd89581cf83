package eventloop

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/metrics"
	"tlslpd/protocol"
	"tlslpd/proxyproto"
	"tlslpd/transport"
)

// The balancer is 127.0.0.2; tests dialling from 127.0.0.1 are anyone else.
var (
	balancer = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	stranger = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
)

func startProxied(t *testing.T, mutate func(*Config)) *harness {
	return startServer(t, func(c *Config) {
		c.ProxyFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
		if mutate != nil {
			mutate(c)
		}
	})
}

// dialVia connects from local, writes preamble (in pieces of chunk bytes
// when chunk > 0) and starts TLS.
func (h *harness) dialVia(local *net.TCPAddr, preamble []byte, chunk int) *peer {
	h.t.Helper()
	d := net.Dialer{Timeout: ioBound, LocalAddr: local}
	raw, err := d.Dial("tcp", h.addr)
	require.NoError(h.t, err)
	h.t.Cleanup(func() { raw.Close() })
	for len(preamble) > 0 {
		n := len(preamble)
		if chunk > 0 {
			n = min(n, chunk)
		}
		_, err := raw.Write(preamble[:n])
		require.NoError(h.t, err)
		preamble = preamble[n:]
		if len(preamble) > 0 {
			time.Sleep(2 * time.Millisecond) // separate reads on the server
		}
	}
	conn := tls.Client(raw, h.tlsConfig(withCert))
	require.NoError(h.t, conn.SetDeadline(time.Now().Add(ioBound)))
	return &peer{t: h.t, conn: conn, r: bufio.NewReader(conn)}
}

func (h *harness) refused(reason string) float64 {
	return testutil.ToFloat64(h.met.RefusedCounter(reason))
}

func TestProxyHeaderNamesTheClient(t *testing.T) {
	client4 := netip.MustParseAddrPort("203.0.113.7:40001")
	client6 := netip.MustParseAddrPort("[2001:db8::9]:40002")
	dst := netip.MustParseAddrPort("192.0.2.1:1234")
	tests := []struct {
		name   string
		header []byte
		chunk  int
		remote string
	}{
		{"v2 ipv4", proxyproto.AppendV2(nil, client4, dst), 0, "203.0.113.7:40001"},
		{"v2 ipv6", proxyproto.AppendV2(nil, client6, netip.MustParseAddrPort("[2001:db8::1]:1234")), 0, "[2001:db8::9]:40002"},
		{"v1 ipv4", proxyproto.AppendV1(nil, client4, dst), 0, "203.0.113.7:40001"},
		{"v2 a byte at a time", proxyproto.AppendV2(nil, client4, dst), 1, "203.0.113.7:40001"},
		{"v1 in pieces", proxyproto.AppendV1(nil, client4, dst), 7, "203.0.113.7:40001"},
	}
	h := startProxied(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := h.dialVia(balancer, tt.header, tt.chunk)
			playSession(t, p, protocol.BodyRequests, func(string) string { return "x" })
			rec := h.record()
			assert.Equal(t, "completed", rec.Outcome)
			assert.Equal(t, tt.remote, rec.Remote)
		})
	}
	assert.Equal(t, 3.0, testutil.ToFloat64(h.met.ProxyHeaderCounter(2)))
	assert.Equal(t, 2.0, testutil.ToFloat64(h.met.ProxyHeaderCounter(1)))
}

func TestProxyLocalHeaderKeepsTheBalancersAddress(t *testing.T) {
	h := startProxied(t, nil)
	local := append([]byte("\r\n\r\n\x00\r\nQUIT\n"), 0x20, 0x00, 0, 0)
	p := h.dialVia(balancer, local, 0)
	playSession(t, p, protocol.BodyRequests, func(string) string { return "x" })
	rec := h.record()
	assert.True(t, strings.HasPrefix(rec.Remote, "127.0.0.2:"), rec.Remote)
}

func TestProxyRefusals(t *testing.T) {
	h := startProxied(t, nil)
	header := proxyproto.AppendV2(nil, netip.MustParseAddrPort("203.0.113.7:40001"), netip.MustParseAddrPort("192.0.2.1:1234"))
	tests := []struct {
		name     string
		from     *net.TCPAddr
		preamble []byte
		reason   string
	}{
		{"header from a stranger", stranger, header, metrics.RefusedProxyUntrusted},
		{"v1 header from a stranger", stranger, []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), metrics.RefusedProxyUntrusted},
		{"balancer without a header", balancer, nil, metrics.RefusedProxyMissing},
		{"balancer with a broken header", balancer, []byte("PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n"), metrics.RefusedProxyMalformed},
		{"balancer with an overlong v1 line", balancer, []byte("PROXY UNKNOWN " + strings.Repeat("x", 200)), metrics.RefusedProxyMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.refused(tt.reason)
			p := h.dialVia(tt.from, tt.preamble, 0)
			_, err := p.r.ReadString('\n')
			require.Error(t, err, "refused before TLS")
			require.Eventually(t, func() bool { return h.refused(tt.reason) == before+1 }, ioBound, 5*time.Millisecond)
		})
	}
	require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 5*time.Millisecond)

	// A stranger speaking TLS directly is served as before.
	p := h.dialVia(stranger, nil, 0)
	playSession(t, p, protocol.BodyRequests, func(string) string { return "x" })
	assert.True(t, strings.HasPrefix(h.record().Remote, "127.0.0.1:"))
}

// Per-address limits apply to the client the header names, not to the
// balancer every proxied client shares.
func TestProxyMaxConnsPerIPCountsTheClient(t *testing.T) {
	h := startProxied(t, func(c *Config) { c.MaxConnsPerIP = 1 })
	dst := netip.MustParseAddrPort("192.0.2.1:1234")
	a := h.dialVia(balancer, proxyproto.AppendV2(nil, netip.MustParseAddrPort("203.0.113.7:1"), dst), 0)
	a.expect("HELLO")
	b := h.dialVia(balancer, proxyproto.AppendV2(nil, netip.MustParseAddrPort("203.0.113.8:1"), dst), 0)
	b.expect("HELLO")
	same := h.dialVia(balancer, proxyproto.AppendV2(nil, netip.MustParseAddrPort("203.0.113.7:2"), dst), 0)
	_, err := same.r.ReadString('\n')
	require.Error(t, err, "a second connection from 203.0.113.7 passes the cap")
	assert.Equal(t, 1.0, h.refused("max_conns_per_ip"))
	h.srv.ipMu.Lock()
	counted := len(h.srv.perIP)
	_, balancerCounted := h.srv.perIP[netip.MustParseAddr("127.0.0.2")]
	h.srv.ipMu.Unlock()
	assert.Equal(t, 2, counted)
	assert.False(t, balancerCounted, "the balancer's address is never counted")
}

func TestProxyProtocolOffServesHeadersAsTLSGarbage(t *testing.T) {
	h := startServer(t, nil)
	p := h.dialVia(stranger, proxyproto.AppendV2(nil, netip.MustParseAddrPort("203.0.113.7:1"), netip.MustParseAddrPort("192.0.2.1:1")), 0)
	_, err := p.r.ReadString('\n')
	require.Error(t, err)
	assert.Zero(t, h.refused(metrics.RefusedProxyUntrusted), "off means no PROXY stage at all")
}

// A balancer that connects and says nothing, or stops mid-header, is
// closed by the handshake deadline like any silent peer.
func TestProxyHeaderWaitEndsAtTheHandshakeDeadline(t *testing.T) {
	h := startProxied(t, func(c *Config) { c.HandshakeTimeout = 200 * time.Millisecond })
	for _, partial := range [][]byte{nil, []byte("PROXY TCP4 203.0.113.7"), []byte("\r\n\r\n\x00\r\nQU")} {
		d := net.Dialer{Timeout: ioBound, LocalAddr: balancer}
		raw, err := d.Dial("tcp", h.addr)
		require.NoError(t, err)
		_, err = raw.Write(partial)
		require.NoError(t, err)
		require.NoError(t, raw.SetReadDeadline(time.Now().Add(ioBound)))
		n, err := raw.Read(make([]byte, 1))
		assert.Zero(t, n)
		var ne net.Error
		if errors.As(err, &ne) {
			assert.False(t, ne.Timeout(), "%q: the server must close, not leave it open", partial)
		}
		raw.Close()
	}
	require.Eventually(t, func() bool { return h.srv.Conns() == 0 }, ioBound, 5*time.Millisecond)
	assert.Zero(t, h.armedTimers(), "no timer left behind")
}

// Behind a balancer, plain and auto-detect listeners start the client's
// connection when the header has named the client: a plain listener
// sends HELLO then, and auto-detect's wait for the first byte starts
// then, not while the balancer has yet to speak.
func TestProxyHeaderOnPlainAndAutoListeners(t *testing.T) {
	for _, name := range []string{transport.TCP, transport.Auto} {
		t.Run(name, func(t *testing.T) {
			h := startProxied(t, func(c *Config) {
				var f EngineFactory = transport.PlainFactory{}
				if name == transport.Auto {
					f = transport.AutoFactory{TLS: c.Engines, Wait: 100 * time.Millisecond}
				}
				c.Listeners = []Listener{{Addr: "tcp://127.0.0.1:0", Transport: name, Engines: f}}
			})
			d := net.Dialer{Timeout: ioBound, LocalAddr: balancer}
			raw, err := d.Dial("tcp", h.addr)
			require.NoError(t, err)
			defer raw.Close()
			// The balancer waits longer than auto-detect's wait before it
			// sends the header: nothing may reach it meanwhile.
			require.NoError(t, raw.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
			_, err = raw.Read(make([]byte, 1))
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), "nothing is sent before the header: %v", err)

			_, err = raw.Write(proxyproto.AppendV2(nil, netip.MustParseAddrPort("203.0.113.9:4242"), netip.MustParseAddrPort("192.0.2.1:1234")))
			require.NoError(t, err)
			require.NoError(t, raw.SetReadDeadline(time.Now().Add(ioBound)))
			r := bufio.NewReader(raw)
			line, err := r.ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, "HELLO\n", line, "the plain client is greeted once the header named it")
			raw.Close()
			rec := h.record()
			assert.Equal(t, "203.0.113.9:4242", rec.Remote)
		})
	}
}
