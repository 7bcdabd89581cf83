//go:build (darwin || dragonfly || freebsd || linux || netbsd || openbsd) && !gc_opt

// tlslpd patch: tests of connMatrix giving back its room after a burst.
// Run with `cd third_party/gnet && go test -run ConnMap .` (make test does).

package gnet

import (
	"reflect"
	"testing"
)

func mapID(cm *connMatrix) uintptr { return uintptr(reflect.ValueOf(cm.connMap).UnsafePointer()) }

func fill(cm *connMatrix, n int) []*conn {
	conns := make([]*conn, n)
	for i := range conns {
		conns[i] = &conn{fd: 1000 + i}
		cm.addConn(conns[i], 0)
	}
	return conns
}

func TestConnMapShrinksAfterADrainedBurst(t *testing.T) {
	var cm connMatrix
	cm.init()
	conns := fill(&cm, 4*connMapShrinkMin)
	burst := mapID(&cm)
	keep := len(conns) / connMapShrinkRatio
	for _, c := range conns[keep+1:] {
		cm.delConn(c)
		if mapID(&cm) != burst {
			t.Fatalf("map replaced with %d connections left of a peak of %d", len(cm.connMap), len(conns))
		}
	}
	cm.delConn(conns[keep])
	if mapID(&cm) == burst {
		t.Fatalf("the burst's map is still in use with %d connections left of a peak of %d", len(cm.connMap), len(conns))
	}
	if cm.loadCount() != int32(keep) || len(cm.connMap) != keep {
		t.Fatalf("count %d, map %d entries, want %d", cm.loadCount(), len(cm.connMap), keep)
	}
	for _, c := range conns[:keep] {
		if cm.getConn(c.fd) != c {
			t.Fatalf("connection fd %d lost in the new map", c.fd)
		}
	}
	for _, c := range conns[keep:] {
		if cm.getConn(c.fd) != nil {
			t.Fatalf("deleted connection fd %d is in the new map", c.fd)
		}
	}
}

func TestConnMapSmallIsNeverRebuilt(t *testing.T) {
	var cm connMatrix
	cm.init()
	conns := fill(&cm, connMapShrinkMin-1)
	m := mapID(&cm)
	for _, c := range conns {
		cm.delConn(c)
	}
	if mapID(&cm) != m {
		t.Fatal("a map that never held connMapShrinkMin connections was rebuilt")
	}
}

func TestConnMapIterateClosingEveryConnection(t *testing.T) {
	var cm connMatrix
	cm.init()
	conns := fill(&cm, 4*connMapShrinkMin)
	seen := map[int]int{}
	cm.iterate(func(c *conn) bool {
		seen[c.fd]++
		cm.delConn(c) // as closeConns does, through el.close
		return true
	})
	if len(seen) != len(conns) {
		t.Fatalf("iterate visited %d of %d connections", len(seen), len(conns))
	}
	for fd, n := range seen {
		if n != 1 {
			t.Fatalf("fd %d visited %d times", fd, n)
		}
	}
	if len(cm.connMap) != 0 || cm.loadCount() != 0 {
		t.Fatalf("%d left in the map, count %d", len(cm.connMap), cm.loadCount())
	}
}
