package eventloop

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// detachListeners takes this server's listening sockets out of the
// kernel's SO_REUSEPORT group when it starts draining, so that a new
// process sharing the port (--reuseport, a rolling restart) gets every
// new connection instead of part of them being refused here.
//
// gnet closes a listener only with its engine, so this works on the
// sockets themselves: each of ours (ownLns, found when Run started) is
// first removed from the epoll set that watches it (its gnet loop's),
// then shut down for reading, which stops it listening. A socket no epoll
// set let go of is left alone: gnet would see it fail and end its loop.
// It returns how many sockets it detached.
func (s *Server) detachListeners() (int, error) {
	if len(s.ownLns) == 0 {
		return 0, nil
	}
	fds, polls, err := scanFDs()
	if err != nil {
		return 0, err
	}
	detached := 0
	var errs []error
	for ino, ln := range fds {
		if !s.ownLns[ino] {
			continue
		}
		removed := false
		for _, p := range polls {
			if unix.EpollCtl(p, unix.EPOLL_CTL_DEL, ln, nil) == nil {
				removed = true
			}
		}
		if !removed {
			continue
		}
		if err := unix.Shutdown(ln, unix.SHUT_RD); err != nil {
			errs = append(errs, err)
			continue
		}
		detached++
	}
	return detached, errors.Join(errs...)
}

// ownListeners finds the listening sockets Run's engine made: those on
// addrs that were not there before, once there are want of them (gnet
// makes them as its loops start). Another server in this process binding
// the same port at the same moment makes that ambiguous: then none.
func ownListeners(addrs map[string]bool, before map[uint64]bool, want int) map[uint64]bool {
	deadline := time.Now().Add(time.Second)
	for {
		ours := map[uint64]bool{}
		for ino := range listenerInodes(addrs) {
			if !before[ino] {
				ours[ino] = true
			}
		}
		switch {
		case len(ours) == want:
			return ours
		case len(ours) > want || time.Now().After(deadline):
			return nil
		}
		time.Sleep(time.Millisecond)
	}
}

// scanFDs lists this process's sockets by inode and its epoll sets.
func scanFDs() (sockets map[uint64]int, polls []int, err error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, nil, err
	}
	sockets = map[uint64]int{}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		switch {
		case err != nil:
		case link == "anon_inode:[eventpoll]":
			polls = append(polls, fd)
		case strings.HasPrefix(link, "socket:["):
			if ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64); err == nil {
				sockets[ino] = fd
			}
		}
	}
	return sockets, polls, nil
}

// listenerInodes are the inodes of this process's listening sockets bound
// to one of addrs (host:port as net.TCPAddr prints it).
func listenerInodes(addrs map[string]bool) map[uint64]bool {
	sockets, _, err := scanFDs()
	if err != nil {
		return nil
	}
	out := map[uint64]bool{}
	for ino, fd := range sockets {
		if isListenerOn(fd, addrs) {
			out[ino] = true
		}
	}
	return out
}

// hostPorts turns gnet addresses ("tcp://host:port") into host:port.
func hostPorts(gnetAddrs []string) map[string]bool {
	out := map[string]bool{}
	for _, a := range gnetAddrs {
		_, hp, _ := strings.Cut(a, "://")
		if tcp, err := net.ResolveTCPAddr("tcp", hp); err == nil {
			out[tcp.String()] = true
		}
	}
	return out
}

// isListenerOn reports whether fd is a listening socket bound to one of
// addrs.
func isListenerOn(fd int, addrs map[string]bool) bool {
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on != 1 {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	a, ok := sockaddrToTCP(sa).(*net.TCPAddr)
	return ok && addrs[a.String()]
}
