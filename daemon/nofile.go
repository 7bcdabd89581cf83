package daemon

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// fitMaxConns lowers maxConns to what the open-file limit nofile leaves
// after a reserve for everything that is not a client socket (listeners,
// epoll and event fds, records and log files, metrics scrapes, the socket
// accepted only to be refused at the cap): refused at the cap, a
// connection is counted by reason; at the limit itself the patched gnet
// can only close it, counted in a log line.
func fitMaxConns(maxConns int, nofile uint64) int {
	reserve := 64 + nofile/10
	if nofile <= reserve {
		return 1
	}
	if allowed := nofile - reserve; uint64(maxConns) > allowed {
		return int(allowed)
	}
	return maxConns
}

// nofileLimit is this process's soft RLIMIT_NOFILE (Go raises it to the
// hard limit at start).
func nofileLimit() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	return rl.Cur, nil
}
