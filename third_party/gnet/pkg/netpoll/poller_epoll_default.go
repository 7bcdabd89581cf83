// Copyright (c) 2019 Andy Pan
// Copyright (c) 2017 Joshua J Baker
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//go:build linux && !poll_opt

package netpoll

import (
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	errorx "github.com/panjf2000/gnet/v2/pkg/errors"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"github.com/panjf2000/gnet/v2/pkg/queue"
)

// Poller represents a poller which is in charge of monitoring file-descriptors.
type Poller struct {
	fd                          int             // epoll fd
	parkFd                      int             // tlslpd patch: the park epoll (see park)
	parkFile                    *os.File        // tlslpd patch: parkFd in Go's netpoller
	parkRaw                     syscall.RawConn // tlslpd patch: parks Polling until fd is readable
	parkArm, parkDisarm         unix.EpollEvent // tlslpd patch: fd's mask in the park epoll, parked / running
	blockInEpoll                bool            // tlslpd patch: upstream's blocking epoll_wait
	efd                         int             // eventfd
	efdBuf                      []byte          // efd buffer to read an 8-byte integer
	wakeupCall                  int32
	asyncTaskQueue              queue.AsyncTaskQueue // queue with low priority
	urgentAsyncTaskQueue        queue.AsyncTaskQueue // queue with high priority
	highPriorityEventsThreshold int32                // threshold of high-priority events
}

// OpenPoller instantiates a poller.
func OpenPoller() (poller *Poller, err error) {
	poller = new(Poller)
	if poller.fd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		poller = nil
		err = os.NewSyscallError("epoll_create1", err)
		return
	}
	// tlslpd patch: an idle loop parks its goroutine in Go's netpoller
	// instead of holding an OS thread in a blocking epoll_wait. The runtime
	// watches a second, "park" epoll instance, which holds the loop's epoll
	// fd only while the loop is parked: registered for good, every event
	// on every connection would wake an idle thread of the runtime for
	// nothing while the loop is busy. See README.tlslpd.md.
	poller.blockInEpoll = os.Getenv("TLSLPD_GNET_BLOCKING_EPOLL") == "1"
	if !poller.blockInEpoll {
		if err = poller.openPark(); err != nil {
			_ = unix.Close(poller.fd)
			poller = nil
			return
		}
	}
	if poller.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		_ = poller.Close()
		poller = nil
		err = os.NewSyscallError("eventfd", err)
		return
	}
	poller.efdBuf = make([]byte, 8)
	if err = poller.AddRead(&PollAttachment{FD: poller.efd}, true); err != nil {
		_ = poller.Close()
		poller = nil
		return
	}
	poller.asyncTaskQueue = queue.NewLockFreeQueue()
	poller.urgentAsyncTaskQueue = queue.NewLockFreeQueue()
	poller.highPriorityEventsThreshold = MaxPollEventsCap
	return
}

// Close closes the poller.
func (p *Poller) Close() error {
	_ = unix.Close(p.efd)
	if p.parkFile != nil { // tlslpd patch: wakes a parked Polling with os.ErrClosed
		_ = p.parkFile.Close()
	}
	return os.NewSyscallError("close", unix.Close(p.fd))
}

// openPark makes the park epoll instance and hands it to Go's netpoller
// (tlslpd patch). An epoll fd is pollable: readable while it has ready
// events.
func (p *Poller) openPark() error {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	// The runtime only polls non-blocking fds (epoll_wait ignores the flag).
	if err = unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return os.NewSyscallError("fcntl", err)
	}
	// The loop's fd stays in the park epoll for good, disarmed (no
	// EPOLLIN) while the loop runs: adding an epoll fd to an epoll makes
	// the kernel walk every fd the added one watches (its loop check),
	// which at each park cost time in proportion to the loop's
	// connections; re-arming with EPOLL_CTL_MOD does not.
	p.parkArm.Events, p.parkDisarm.Events = unix.EPOLLIN, 0
	if err = unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, p.fd, &p.parkDisarm); err != nil {
		_ = unix.Close(fd)
		return os.NewSyscallError("epoll_ctl add", err)
	}
	// File.Fd would put the fd back in blocking mode: keep our own copy.
	p.parkFd = fd
	p.parkFile = os.NewFile(uintptr(fd), "epoll-park")
	if p.parkRaw, err = p.parkFile.SyscallConn(); err != nil {
		_ = p.parkFile.Close()
		return err
	}
	return nil
}

// park waits, with the goroutine parked in Go's netpoller, until the
// loop's epoll fd has events, and returns them as epoll_wait does (tlslpd
// patch). The loop's fd is armed in the park epoll for the wait only:
// arming it when it already has events makes the park epoll readable at
// once, so no event is missed between the last epoll_wait and the park;
// armed while the loop runs, each of its events would wake the runtime's
// netpoller for nothing.
func (p *Poller) park(el *eventList) (n int, err error) {
	if err = unix.EpollCtl(p.parkFd, unix.EPOLL_CTL_MOD, p.fd, &p.parkArm); err != nil {
		if err == unix.EBADF || err == unix.ENOENT { // Close ran
			return -1, os.ErrClosed
		}
		return -1, os.NewSyscallError("epoll_ctl mod", err)
	}
	rerr := p.parkRaw.Read(func(uintptr) bool {
		n, err = unix.EpollWait(p.fd, el.events, 0)
		return n > 0 || (err != nil && err != unix.EINTR)
	})
	_ = unix.EpollCtl(p.parkFd, unix.EPOLL_CTL_MOD, p.fd, &p.parkDisarm)
	if rerr != nil {
		return -1, rerr
	}
	return n, err
}

// Make the endianness of bytes compatible with more linux OSs under different processor-architectures,
// according to http://man7.org/linux/man-pages/man2/eventfd.2.html.
var (
	u uint64 = 1
	b        = (*(*[8]byte)(unsafe.Pointer(&u)))[:]
)

// Trigger enqueues task and wakes up the poller to process pending tasks.
// By default, any incoming task will enqueued into urgentAsyncTaskQueue
// before the threshold of high-priority events is reached. When it happens,
// any asks other than high-priority tasks will be shunted to asyncTaskQueue.
//
// Note that asyncTaskQueue is a queue of low-priority whose size may grow large and tasks in it may backlog.
func (p *Poller) Trigger(priority queue.EventPriority, fn queue.Func, param any) (err error) {
	task := queue.GetTask()
	task.Exec, task.Param = fn, param
	if priority > queue.HighPriority && p.urgentAsyncTaskQueue.Length() >= p.highPriorityEventsThreshold {
		p.asyncTaskQueue.Enqueue(task)
	} else {
		// There might be some low-priority tasks overflowing into urgentAsyncTaskQueue in a flash,
		// but that's tolerable because it ought to be a rare case.
		p.urgentAsyncTaskQueue.Enqueue(task)
	}
	if atomic.CompareAndSwapInt32(&p.wakeupCall, 0, 1) {
		for {
			_, err = unix.Write(p.efd, b)
			if err == unix.EAGAIN {
				_, _ = unix.Read(p.efd, p.efdBuf)
				continue
			}
			break
		}
	}
	return os.NewSyscallError("write", err)
}

// Polling blocks the current goroutine, monitoring the registered file descriptors and waiting for network I/O.
// When I/O occurs on any of the file descriptors, the provided callback function is invoked.
func (p *Poller) Polling(callback PollEventHandler) error {
	el := newEventList(InitPollEventsCap)
	var doChores bool

	msec := -1
	var (
		n   int
		err error
	)
	for {
		switch {
		case p.blockInEpoll || msec == 0:
			n, err = unix.EpollWait(p.fd, el.events, msec)
		default: // tlslpd patch: idle, so park in Go's netpoller
			var perr error
			if n, perr = p.park(el); perr != nil {
				if errors.Is(perr, os.ErrClosed) {
					return perr
				}
				// Not pollable after all (the runtime refused the fd):
				// wait the upstream way rather than end the loop.
				logging.Warnf("epoll fd not pollable by the Go runtime (%v), blocking in epoll_wait", perr)
				p.blockInEpoll = true
				continue
			}
		}
		if n == 0 || (n < 0 && err == unix.EINTR) {
			msec = -1
			runtime.Gosched()
			continue
		} else if err != nil {
			logging.Errorf("error occurs in epoll: %v", os.NewSyscallError("epoll_wait", err))
			return err
		}
		msec = 0

		for i := 0; i < n; i++ {
			ev := &el.events[i]
			if fd := int(ev.Fd); fd == p.efd { // poller is awakened to run tasks in queues.
				doChores = true
			} else {
				err = callback(fd, ev.Events, 0)
				if errors.Is(err, errorx.ErrAcceptSocket) || errors.Is(err, errorx.ErrEngineShutdown) {
					return err
				}
			}
		}

		if doChores {
			doChores = false
			task := p.urgentAsyncTaskQueue.Dequeue()
			for ; task != nil; task = p.urgentAsyncTaskQueue.Dequeue() {
				err = task.Exec(task.Param)
				if errors.Is(err, errorx.ErrEngineShutdown) {
					return err
				}
				queue.PutTask(task)
			}
			for i := 0; i < MaxAsyncTasksAtOneTime; i++ {
				if task = p.asyncTaskQueue.Dequeue(); task == nil {
					break
				}
				err = task.Exec(task.Param)
				if errors.Is(err, errorx.ErrEngineShutdown) {
					return err
				}
				queue.PutTask(task)
			}
			atomic.StoreInt32(&p.wakeupCall, 0)
			if (!p.asyncTaskQueue.IsEmpty() || !p.urgentAsyncTaskQueue.IsEmpty()) && atomic.CompareAndSwapInt32(&p.wakeupCall, 0, 1) {
				for {
					_, err = unix.Write(p.efd, b)
					if err == unix.EAGAIN {
						_, _ = unix.Read(p.efd, p.efdBuf)
						continue
					}
					if err != nil {
						logging.Errorf("failed to notify next round of event-loop for leftover tasks, %v", os.NewSyscallError("write", err))
					}
					break
				}
			}
		}

		if n == el.size {
			el.expand()
		} else if n < el.size>>1 {
			el.shrink()
		}
	}
}

// AddReadWrite registers the given file descriptor with readable and writable events to the poller.
func (p *Poller) AddReadWrite(pa *PollAttachment, edgeTriggered bool) error {
	var ev uint32 = ReadWriteEvents
	if edgeTriggered {
		ev |= unix.EPOLLET | unix.EPOLLRDHUP
	}
	return os.NewSyscallError("epoll_ctl add",
		unix.EpollCtl(p.fd, unix.EPOLL_CTL_ADD, pa.FD, &unix.EpollEvent{Fd: int32(pa.FD), Events: ev}))
}

// AddRead registers the given file descriptor with readable event to the poller.
func (p *Poller) AddRead(pa *PollAttachment, edgeTriggered bool) error {
	var ev uint32 = ReadEvents
	if edgeTriggered {
		ev |= unix.EPOLLET | unix.EPOLLRDHUP
	}
	return os.NewSyscallError("epoll_ctl add",
		unix.EpollCtl(p.fd, unix.EPOLL_CTL_ADD, pa.FD, &unix.EpollEvent{Fd: int32(pa.FD), Events: ev}))
}

// AddWrite registers the given file descriptor with writable event to the poller.
func (p *Poller) AddWrite(pa *PollAttachment, edgeTriggered bool) error {
	var ev uint32 = WriteEvents
	if edgeTriggered {
		ev |= unix.EPOLLET | unix.EPOLLRDHUP
	}
	return os.NewSyscallError("epoll_ctl add",
		unix.EpollCtl(p.fd, unix.EPOLL_CTL_ADD, pa.FD, &unix.EpollEvent{Fd: int32(pa.FD), Events: ev}))
}

// ModRead modifies the given file descriptor with readable event in the poller.
func (p *Poller) ModRead(pa *PollAttachment, edgeTriggered bool) error {
	var ev uint32 = ReadEvents
	if edgeTriggered {
		ev |= unix.EPOLLET | unix.EPOLLRDHUP
	}
	return os.NewSyscallError("epoll_ctl mod",
		unix.EpollCtl(p.fd, unix.EPOLL_CTL_MOD, pa.FD, &unix.EpollEvent{Fd: int32(pa.FD), Events: ev}))
}

// ModReadWrite modifies the given file descriptor with readable and writable events in the poller.
func (p *Poller) ModReadWrite(pa *PollAttachment, edgeTriggered bool) error {
	var ev uint32 = ReadWriteEvents
	if edgeTriggered {
		ev |= unix.EPOLLET | unix.EPOLLRDHUP
	}
	return os.NewSyscallError("epoll_ctl mod",
		unix.EpollCtl(p.fd, unix.EPOLL_CTL_MOD, pa.FD, &unix.EpollEvent{Fd: int32(pa.FD), Events: ev}))
}

// Delete removes the given file descriptor from the poller.
func (p *Poller) Delete(fd int) error {
	return os.NewSyscallError("epoll_ctl del", unix.EpollCtl(p.fd, unix.EPOLL_CTL_DEL, fd, nil))
}
