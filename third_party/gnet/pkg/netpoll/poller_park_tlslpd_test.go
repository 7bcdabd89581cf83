//go:build linux && !poll_opt

// tlslpd patch: tests of idle loops parking in Go's netpoller through the
// park epoll (README.tlslpd.md). make test runs them.

package netpoll

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// parkMask is the event mask the park epoll holds for the loop's epoll fd,
// from /proc/self/fdinfo; ok is false when it holds none.
func parkMask(t testing.TB, p *Poller) (mask uint64, ok bool) {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/self/fdinfo/%d", p.parkFd))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// tfd:        5 events:       19 data:        0  pos:0 ino:... sdev:...
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[0] != "tfd:" || fields[1] != strconv.Itoa(p.fd) {
			continue
		}
		mask, err := strconv.ParseUint(fields[3], 16, 32)
		require.NoError(t, err)
		return mask, true
	}
	require.NoError(t, sc.Err())
	return 0, false
}

// openTestPoller opens a poller watching one eventfd of its own, level
// triggered as gnet's connections are.
func openTestPoller(t testing.TB) (*Poller, int) {
	t.Helper()
	p, err := OpenPoller()
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close(efd) })
	require.NoError(t, p.AddRead(&PollAttachment{FD: efd}, false))
	return p, efd
}

func signal(t testing.TB, efd int) {
	t.Helper()
	_, err := unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	require.NoError(t, err)
}

// The loop's epoll fd stays in the park epoll for good, armed (EPOLLIN)
// only while the loop is parked: armed while the loop runs, each event
// of its connections would wake the runtime's netpoller for nothing, and
// added anew at each park, the kernel's loop check walks every fd the
// loop watches.
func TestParkArmsOnlyWhileParked(t *testing.T) {
	p, efd := openTestPoller(t)
	el := newEventList(InitPollEventsCap)
	armed := func() bool {
		mask, ok := parkMask(t, p)
		require.True(t, ok, "the loop's epoll fd is registered in the park epoll")
		return mask&unix.EPOLLIN != 0
	}
	assert.False(t, armed(), "armed before any park")

	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := p.park(el)
		done <- result{n, err}
	}()
	require.Eventually(t, armed, 5*time.Second, time.Millisecond, "armed while parked")
	select {
	case r := <-done:
		t.Fatalf("park returned with nothing to report: %+v", r)
	case <-time.After(20 * time.Millisecond):
	}
	signal(t, efd) // an event after the park wakes it
	select {
	case r := <-done:
		require.NoError(t, r.err)
		assert.Equal(t, 1, r.n)
	case <-time.After(5 * time.Second):
		t.Fatal("park did not wake for an event of the loop's epoll")
	}
	assert.False(t, armed(), "disarmed once woken")

	// An event already pending (the eventfd is still readable) ends the
	// park at once: none is lost between the loop's last epoll_wait and
	// the park.
	go func() {
		n, err := p.park(el)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		require.NoError(t, r.err)
		assert.Equal(t, 1, r.n)
	case <-time.After(5 * time.Second):
		t.Fatal("park missed an event pending before it")
	}
	assert.False(t, armed(), "disarmed once woken")
}

// Closing the poller ends a parked wait (with the closed file's error).
func TestParkEndsOnClose(t *testing.T) {
	p, err := OpenPoller()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := p.park(newEventList(InitPollEventsCap))
		done <- err
	}()
	require.Eventually(t, func() bool { m, _ := parkMask(t, p); return m&unix.EPOLLIN != 0 }, 5*time.Second, time.Millisecond)
	_ = p.Close()
	select {
	case err := <-done:
		assert.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("park outlived Close")
	}
}

// BenchmarkParkWithIdleFds: one park (with an event pending, so it
// returns at once: the system calls only) while the loop watches n more
// idle fds. Adding the loop's epoll fd to the park epoll at each park
// cost time in proportion to n (the kernel's loop check); arming it with
// EPOLL_CTL_MOD does not. Compare the two sizes' ns/op.
func BenchmarkParkWithIdleFds(b *testing.B) {
	for _, n := range []int{16, 4096} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			p, efd := openTestPoller(b)
			for i := 0; i < n; i++ {
				fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
				require.NoError(b, err)
				b.Cleanup(func() { _ = unix.Close(fd) })
				require.NoError(b, p.AddRead(&PollAttachment{FD: fd}, false))
			}
			signal(b, efd)
			el := newEventList(InitPollEventsCap)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if n, err := p.park(el); n != 1 || err != nil {
					b.Fatalf("park: %d events, %v", n, err)
				}
			}
		})
	}
}
