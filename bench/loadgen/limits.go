package loadgen

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// fdReserve is what CapConcurrency leaves for everything that is not a
// session socket: stdio, the listener of an in-process server, the
// resolver, the report file, and slack for sockets still in close.
func fdReserve(nofile uint64) uint64 {
	return 64 + nofile/10
}

// CapConcurrency limits requested concurrent sessions (one socket each) to
// what the open-file limit nofile allows after a reserve. It reports the
// effective value and whether it had to cap.
func CapConcurrency(requested int, nofile uint64) (int, bool) {
	if requested <= 0 {
		return requested, false
	}
	reserve := fdReserve(nofile)
	if nofile <= reserve {
		return 1, requested > 1
	}
	allowed := nofile - reserve
	if uint64(requested) <= allowed {
		return requested, false
	}
	return int(allowed), true
}

// CapMessage is the one line told to the user when CapConcurrency capped.
func CapMessage(what string, requested, effective int, nofile uint64) string {
	return fmt.Sprintf("tlslpd bench load: %s %d exceeds what the open-file limit allows (RLIMIT_NOFILE %d, keeping %d spare); capped to %d",
		what, requested, nofile, fdReserve(nofile), effective)
}

// NofileLimit returns the soft RLIMIT_NOFILE of this process.
func NofileLimit() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	return rl.Cur, nil
}

// SourceAddrs returns the local addresses to spread connections over:
// 127.0.0.1..127.0.0.k when the target is IPv4 loopback (or "localhost",
// which the dialer then resolves to IPv4 only because the local address is
// IPv4), so each source IP has its own ephemeral port range. For any other
// target, or k ≤ 1, it returns nil (let the kernel choose).
func SourceAddrs(host string, k int) []*net.TCPAddr {
	if k <= 1 {
		return nil
	}
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
			return nil
		}
	}
	if k > 254 {
		k = 254
	}
	addrs := make([]*net.TCPAddr, k)
	for i := range addrs {
		addrs[i] = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(i+1))}
	}
	return addrs
}
