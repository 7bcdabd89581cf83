package daemon

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/internal/testmetrics"
	"tlslpd/proxyproto"
)

// haproxyBinary finds Debian's haproxy. CI installs it (.ci/run), so
// there its absence fails the test; elsewhere the test says how to get it.
func haproxyBinary(t *testing.T) string {
	path, err := exec.LookPath("haproxy")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatal("haproxy is not installed; .ci/run installs it (apt-get install -y haproxy)")
	}
	t.Skip("haproxy is not installed (apt-get install -y haproxy); CI runs this test")
	return ""
}

// startHAProxy runs haproxy in the foreground on 127.0.0.1, in TCP mode,
// in front of backend with send-proxy-v2, and returns its address.
func startHAProxy(t *testing.T, backend string) string {
	bin := haproxyBinary(t)
	port := freePort(t)
	cfg := fmt.Sprintf(`global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend tlslp
    bind 127.0.0.1:%d
    default_backend tlslpd
backend tlslpd
    server tlslpd %s send-proxy-v2
`, port, backend)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	check, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
	require.NoError(t, err, "haproxy -c: %s", check)
	cmd := exec.Command(bin, "-db", "-f", path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			t.Fatalf("haproxy exited: %s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, bound, 20*time.Millisecond, "haproxy did not listen on %s", addr)
	return addr
}

// dialFrom connects from local (a loopback address) and speaks TLS.
func dialFrom(t *testing.T, pki *certs.PKI, local, addr string, preamble []byte) *client {
	t.Helper()
	cc, err := pki.ClientConfig("localhost")
	require.NoError(t, err)
	d := net.Dialer{Timeout: bound, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	raw, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	if len(preamble) > 0 {
		_, err = raw.Write(preamble)
		require.NoError(t, err)
	}
	conn := tls.Client(raw, cc)
	require.NoError(t, conn.SetDeadline(time.Now().Add(bound)))
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// A real HAProxy with send-proxy-v2 in front of tlslpd: the client's
// address, not the balancer's, reaches the records and the per-address
// cap; a header from anyone else is refused and counted.
func TestBehindHAProxy(t *testing.T) {
	// 127.0.0.1 is HAProxy's source; clients come from 127.0.0.3 and .4.
	p := startDaemon(t, "--proxy-protocol-from", "127.0.0.1/32", "--max-conns-per-ip", "1",
		"--metrics-addr", "127.0.0.1:0", "--records", "records.jsonl")
	lb := startHAProxy(t, p.Listen[0])

	c := dialFrom(t, p.pki, "127.0.0.3", lb, nil)
	token, err := c.toWork()
	require.NoError(t, err, "a session through HAProxy:\n%s", p.Text())
	// The cap counts 127.0.0.3, so a second client from it is refused
	// while one from 127.0.0.4 is served.
	again := dialFrom(t, p.pki, "127.0.0.3", lb, nil)
	_, err = again.line()
	require.Error(t, err, "127.0.0.3 is over --max-conns-per-ip 1")
	other := dialFrom(t, p.pki, "127.0.0.4", lb, nil)
	_, err = other.session()
	require.NoError(t, err)
	_, err = c.finish(token)
	require.NoError(t, err)

	// Straight to tlslpd from a source that is not the balancer: a
	// header is refused, TLS is served.
	header := proxyproto.AppendV2(nil, netip.MustParseAddrPort("198.51.100.1:1"), netip.MustParseAddrPort("192.0.2.1:1"))
	forged := dialFrom(t, p.pki, "127.0.0.5", p.Listen[0], header)
	_, err = forged.line()
	require.Error(t, err, "a PROXY header from an untrusted source")
	direct := dialFrom(t, p.pki, "127.0.0.5", p.Listen[0], nil)
	_, err = direct.session()
	require.NoError(t, err)

	m := testmetrics.Scrape(t, p.Metrics)
	assert.Equal(t, 1.0, m.Get(t, `tlslpd_connections_refused_total{reason="proxy_untrusted"}`))
	assert.Equal(t, 1.0, m.Get(t, `tlslpd_connections_refused_total{reason="max_conns_per_ip"}`))
	// Three clients, plus the probe that waited for HAProxy to listen.
	assert.GreaterOrEqual(t, m.Get(t, `tlslpd_proxy_headers_total{version="2"}`), 3.0)

	p.Signal(syscall.SIGTERM)
	require.Equal(t, 0, p.ExitCode(bound))
	remotes := map[string]int{}
	for _, r := range readRecords(t, filepath.Join(p.dir, "records.jsonl")) {
		host, _, err := net.SplitHostPort(r["remote"].(string))
		require.NoError(t, err)
		remotes[host]++
	}
	assert.Equal(t, map[string]int{"127.0.0.3": 1, "127.0.0.4": 1, "127.0.0.5": 1}, remotes,
		"records name the clients, never HAProxy's 127.0.0.1")
}
