package eventloop

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClaimAddrs(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	takenAddr := "tcp://" + taken.Addr().String()

	tests := []struct {
		name    string
		addr    string
		shared  bool
		want    string // exact result; "" means any concrete port on the host
		wantErr string
	}{
		{name: "port 0 becomes one concrete port", addr: "tcp://127.0.0.1:0"},
		{name: "port 0 shared too", addr: "tcp://127.0.0.1:0", shared: true},
		{name: "ipv6 loopback", addr: "tcp://[::1]:0"},
		{name: "taken port refused", addr: takenAddr, wantErr: "address already in use"},
		{name: "taken port shared on request", addr: takenAddr, shared: true, want: takenAddr},
		{name: "not tcp", addr: "udp://127.0.0.1:0", wantErr: "want tcp://host:port"},
		{name: "no port", addr: "tcp://127.0.0.1", wantErr: "missing port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := claimAddrs([]string{tc.addr}, tc.shared)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				assert.Equal(t, 1, strings.Count(err.Error()+"\n", "\n"), "one line")
				return
			}
			if strings.Contains(tc.addr, "[::1]") && err != nil && strings.Contains(err.Error(), "cannot assign") {
				t.Skip("no IPv6 loopback on this machine")
			}
			require.NoError(t, err)
			require.Len(t, got, 1)
			if tc.want != "" {
				assert.Equal(t, tc.want, got[0])
				return
			}
			host, port, err := net.SplitHostPort(strings.TrimPrefix(got[0], "tcp://"))
			require.NoError(t, err)
			wantHost, _, _ := net.SplitHostPort(strings.TrimPrefix(tc.addr, "tcp://"))
			assert.Equal(t, wantHost, host)
			n, err := strconv.Atoi(port)
			require.NoError(t, err)
			assert.Positive(t, n)
		})
	}
}

// With several loops on port 0, every loop must listen on the one port the
// server reports: connections to it reach both loops.
func TestEveryLoopServesTheReportedPort(t *testing.T) {
	h := startServer(t, func(c *Config) { c.Loops = 2 })
	conns := make([]net.Conn, 0, 64)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	deadline := time.Now().Add(ioBound)
	for len(h.srv.loopList()) < 2 && len(conns) < cap(conns) && time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", h.addr, ioBound)
		require.NoError(t, err)
		conns = append(conns, c)
		for h.srv.Conns() < int64(len(conns)) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	// The kernel spreads connections over the loops' listeners by a hash
	// of the addresses: 64 connections all landing on one loop would have
	// a chance of 2^-63.
	assert.Len(t, h.srv.loopList(), 2, "after %d connections", len(conns))
}
