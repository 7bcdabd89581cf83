package daemon

import (
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testbin"
)

func TestFitMaxConns(t *testing.T) {
	for _, tc := range []struct {
		maxConns int
		nofile   uint64
		want     int
	}{
		{15000, 20000, 15000}, // the development machine: fits
		{15000, 1024, 1024 - 64 - 102},
		{15000, 65536, 15000},
		{50, 200, 50},
		{1000, 200, 200 - 64 - 20},
		{1000, 64, 1},
	} {
		assert.Equal(t, tc.want, fitMaxConns(tc.maxConns, tc.nofile), "%d conns, nofile %d", tc.maxConns, tc.nofile)
	}
}

// More connections than the open-file limit allows must not stop the
// daemon (gnet ends its loop when accept fails with EMFILE): --max-conns is
// lowered to fit, said once, and the daemon goes on serving.
func TestMaxConnsFitsTheOpenFileLimit(t *testing.T) {
	dir, pki := testbin.Home(t)
	cmd := exec.Command("sh", "-c", `ulimit -n 200 && exec "$0" "$@"`, binary,
		"--n_bits", "4", "--token", "AUTH", "--log-level", "INFO", "--status-interval", "0",
		"--listen", "127.0.0.1:0", "--max-conns", "1000")
	p := startCmd(t, dir, cmd)
	p.pki = pki
	lowered := p.Logged("--max-conns is more than the open-file limit allows, lowered so a flood of connections cannot stop the daemon; raise the limit (ulimit -n, systemd LimitNOFILE=) to serve more", bound)
	assert.EqualValues(t, 116, lowered["lowered_to"])

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range 260 { // past the 200 descriptors the process may hold
		c, err := net.DialTimeout("tcp", p.Listen[0], 2*time.Second)
		if err == nil {
			conns = append(conns, c)
		}
	}
	time.Sleep(300 * time.Millisecond) // let the loop accept (and refuse) them
	select {
	case <-p.Exited():
		t.Fatalf("tlslpd stopped under the flood:\n%s", p.Text())
	default:
	}
	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	require.Eventually(t, func() bool {
		c, err := p.dial(t, pki, p.Listen[0])
		if err != nil {
			return false
		}
		defer c.conn.Close()
		_, err = c.toWork()
		return err == nil
	}, 10*time.Second, 100*time.Millisecond, "a session is served after the flood:\n%s", p.Text())
}
