// Copyright (c) 2026 the tlslpd authors. Licensed under the Apache License,
// Version 2.0, like the rest of this copy of gnet.

//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package gnet

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/panjf2000/gnet/v2/pkg/socket"
)

// tlslpd patch. Upstream ends the event loop, and so the engine, when
// accept(2) fails with EMFILE or ENFILE: one client holding enough
// connections, or anything else using up the process's descriptors, stops
// the server. Instead each loop keeps one spare descriptor; at the limit
// it gives the spare up, accepts the pending connection with it and closes
// that at once (the client learns now instead of waiting in the kernel's
// queue, and the level-triggered listener stops firing for it), then takes
// the spare back. Logged at most once a second, with the count.

// fdLimitState is a loop's spare descriptor and what it refused.
type fdLimitState struct {
	spare    int
	hasSpare bool
	refused  uint64 // since the last log line
	lastLog  time.Time
}

// keepSpareFd opens the spare when the loop has none (after a successful
// accept, so while descriptors are available again).
func (el *eventloop) keepSpareFd() {
	if el.fdLimit.hasSpare {
		return
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return // tried again after the next accept
	}
	el.fdLimit.spare, el.fdLimit.hasSpare = fd, true
}

// refuseAtFdLimit closes one pending connection of the listener fd after
// accept failed with err (EMFILE or ENFILE).
func (el *eventloop) refuseAtFdLimit(fd int, err error) {
	st := &el.fdLimit
	if st.hasSpare {
		_ = unix.Close(st.spare)
		st.hasSpare = false
		if nfd, _, aerr := socket.Accept(fd); aerr == nil {
			_ = unix.Close(nfd)
			st.refused++
		}
		el.keepSpareFd()
	}
	if now := time.Now(); now.Sub(st.lastLog) >= time.Second {
		if st.hasSpare {
			el.getLogger().Warnf("accept: %v: closed %d new connections at once (descriptors exhausted)", err, st.refused)
		} else {
			el.getLogger().Warnf("accept: %v: no spare descriptor to close new connections with; they wait in the listen queue", err)
		}
		st.refused, st.lastLog = 0, now
	}
}
