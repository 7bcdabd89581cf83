package daemon

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"

	"tlslpd/config"
)

// The serving line names each listener's transport with the port it got,
// so `--port 0` (or :0 in --listen) shows where to connect.
func TestListenNamesShowBoundPorts(t *testing.T) {
	tcp := func(port int) net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port} }
	tests := []struct {
		name   string
		listen []string
		bound  []net.Addr
		want   []string
	}{
		{"port 0 becomes the bound port", []string{"tls://localhost:0", "ws://127.0.0.1:0/x"},
			[]net.Addr{tcp(4001), tcp(4002)}, []string{"tls://localhost:4001", "ws://127.0.0.1:4002/x"}},
		{"a fixed port stays", []string{"tcp://127.0.0.1:1234"},
			[]net.Addr{tcp(1234)}, []string{"tcp://127.0.0.1:1234"}},
		{"a listener not inspected: configured ports", []string{"tls://localhost:0", "tcp://localhost:0"},
			[]net.Addr{tcp(4001)}, []string{"tls://localhost:0", "tcp://localhost:0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Server{Listen: tc.listen}
			assert.Equal(t, tc.want, listenNames(&cfg, tc.bound))
		})
	}
}
