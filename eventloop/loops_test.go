package eventloop

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// A loop's epoll fd is never watched by the runtime's own netpoller
// directly: registered for good, every event on every connection would
// wake an idle runtime thread while the loop is busy (a wake-up storm:
// third_party/gnet/README.tlslpd.md). Only a park epoll, holding nothing
// but that one loop's fd (armed only while the loop is parked: the
// netpoll package's tests check that), may watch it.
func TestLoopEpollWatchedOnlyByItsParkEpoll(t *testing.T) {
	startServer(t, func(c *Config) { c.Loops = 2 })
	var watches map[int][]int
	var loops []int
	// The loops register their listeners as they start.
	require.Eventually(t, func() bool {
		watches, loops = epollWatches(t), nil
		for fd, targets := range watches {
			if watchesSocket(t, targets) {
				loops = append(loops, fd)
			}
		}
		return len(loops) >= 2
	}, ioBound, 5*time.Millisecond, "both loops' epoll fds (watching their listeners) found")
	for _, fd := range loops {
		for watcher, its := range watches {
			for _, target := range its {
				if target == fd {
					assert.Equal(t, []int{fd}, its, "epoll %d watches loop epoll %d among other fds: the runtime's netpoller watches the loop directly", watcher, fd)
				}
			}
		}
	}
}

// epollWatches maps each epoll fd of this process to the fds it watches
// (the tfd lines of /proc/self/fdinfo).
func epollWatches(t *testing.T) map[int][]int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	out := map[int][]int{}
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		require.NoError(t, err)
		f, err := os.Open(filepath.Join("/proc/self/fdinfo", e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		targets := []int{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "tfd:" {
				n, err := strconv.Atoi(fields[1])
				require.NoError(t, err)
				targets = append(targets, n)
			}
		}
		require.NoError(t, f.Close())
		out[fd] = targets
	}
	return out
}

func watchesSocket(t *testing.T, fds []int) bool {
	t.Helper()
	for _, fd := range fds {
		if link, err := os.Readlink(filepath.Join("/proc/self/fd", strconv.Itoa(fd))); err == nil && strings.HasPrefix(link, "socket:") {
			return true
		}
	}
	return false
}
