package eventloop

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Event loops follow GOMAXPROCS (the cores, or a container's CPU limit).
func TestDefaultLoopsFollowGOMAXPROCS(t *testing.T) {
	old := runtime.GOMAXPROCS(3)
	defer runtime.GOMAXPROCS(old)
	assert.Equal(t, 3, DefaultLoops())
	runtime.GOMAXPROCS(1)
	assert.Equal(t, 1, DefaultLoops())
}

// Idle loops park their goroutines in Go's netpoller (third_party/gnet's
// patched poller) rather than holding a thread in a blocking epoll_wait,
// which on a busy machine costs scheduler hand-offs (BENCHMARKS.md,
// Transports). Upstream gnet's loops would show as [syscall] here.
func TestIdleLoopsParkInNetpoller(t *testing.T) {
	startServer(t, func(c *Config) { c.Loops = 2 })
	parked := func() (n int) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "netpoll.(*Poller).Polling") && strings.Contains(g, "[IO wait") {
				n++
			}
		}
		return n
	}
	// The loops may be busy for a moment (the ticker's tasks); they are
	// idle most of the time.
	assert.Eventually(t, func() bool { return parked() >= 2 }, ioBound, 5*time.Millisecond,
		"both event loops parked in the netpoller")
}
