// Copyright (c) 2023 The Gnet Authors. All rights reserved.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//      http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//go:build (darwin || dragonfly || freebsd || linux || netbsd || openbsd) && !gc_opt

package gnet

import (
	"sync/atomic"

	"github.com/panjf2000/gnet/v2/internal/gfd"
)

// tlslpd patch: a Go map never gives back the room it grew to, so after a
// burst of connections drains, connMap would keep its peak size for the
// life of the loop (about 0.5 MiB at 15,000 connections over two loops).
// delConn makes a fresh map, sized to what is left, once the connections
// have fallen to a quarter of the peak: a rebuild copies at most a third as
// many entries as were deleted since the last one, so it costs O(1) per
// connection, and never while iterate ranges over the map.
const (
	connMapShrinkMin   = 1024 // a map that never held this many is left as it is
	connMapShrinkRatio = 4    // rebuild when down to 1/connMapShrinkRatio of the peak
)

type connMatrix struct {
	connCount int32
	connMap   map[int]*conn
	peak      int  // tlslpd patch: most entries connMap has held since it was made
	iterating bool // tlslpd patch: iterate is ranging over connMap; do not replace it
}

func (cm *connMatrix) init() {
	cm.connMap = make(map[int]*conn)
	cm.peak = 0
}

func (cm *connMatrix) iterate(f func(*conn) bool) {
	cm.iterating = true
	defer func() { cm.iterating = false }()
	for _, c := range cm.connMap {
		if c != nil {
			if !f(c) {
				return
			}
		}
	}
}

func (cm *connMatrix) incCount(_ int, delta int32) {
	atomic.AddInt32(&cm.connCount, delta)
}

func (cm *connMatrix) loadCount() (n int32) {
	return atomic.LoadInt32(&cm.connCount)
}

func (cm *connMatrix) addConn(c *conn, index int) {
	c.gfd = gfd.NewGFD(c.fd, index, 0, 0)
	cm.connMap[c.fd] = c
	cm.incCount(0, 1)
	if n := len(cm.connMap); n > cm.peak {
		cm.peak = n
	}
}

func (cm *connMatrix) delConn(c *conn) {
	delete(cm.connMap, c.fd)
	cm.incCount(0, -1)
	if n := len(cm.connMap); cm.peak >= connMapShrinkMin && n <= cm.peak/connMapShrinkRatio && !cm.iterating {
		m := make(map[int]*conn, n)
		for fd, c := range cm.connMap {
			m[fd] = c
		}
		cm.connMap, cm.peak = m, n
	}
}

func (cm *connMatrix) getConn(fd int) *conn {
	return cm.connMap[fd]
}

/*
func (cm *connMatrix) getConnByGFD(fd gfd.GFD) *conn {
	return cm.connMap[fd.Fd()]
}
*/
