package tlsbridge

import (
	"crypto/tls"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// clientHello returns the first flight of a real crypto/tls client, to
// replay to many engines: each answers it and then waits for a second
// flight that never comes, as a stalled handshake does.
func clientHello(t testing.TB, cc *tls.Config) []byte {
	t.Helper()
	cli, srv := memConnPair()
	go func() { _ = tls.Client(cli, cc).Handshake() }()
	var hello []byte
	for {
		<-srv.r.notify
		hello = append(hello, srv.r.take()...)
		if n, err := checkPrefix(hello); err == nil && n > 0 && len(hello) >= n {
			break
		}
	}
	cli.Close()
	return hello
}

// stalled is an engine whose peer sent its first flight and went silent.
type stalled struct {
	eng   Engine
	woken atomic.Int32 // calls of its wake function
}

// stall feeds hello to a new engine from addr and drops what it answers,
// leaving its handshake suspended.
func stall(t testing.TB, ts *Server, hello []byte, addr netip.Addr) *stalled {
	t.Helper()
	s := &stalled{}
	s.eng = ts.NewEngine(addr, func() { s.woken.Add(1) })
	require.NoError(t, s.eng.Feed(hello))
	require.Equal(t, Handshaking, s.eng.State())
	_ = s.eng.AppendOutgoing(nil)
	return s
}

// memInUse is the heap and goroutine stack memory in use after GC. Several
// cycles let the GC halve idle coroutines' stacks as far as it will.
func memInUse() (heap, stack uint64) {
	var ms runtime.MemStats
	for range 4 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

// BenchmarkSuspendedHandshake reports the memory (heap and goroutine
// stacks, after GC) that one handshake holds while it waits for the
// client's second flight. The stack is the larger part, and whether the
// GC can halve it depends on how deep the coroutine waits (see
// handshake.perform): a jump in stack-bytes/suspended means it can no
// longer.
// Run: go test -run '^$' -bench SuspendedHandshake -benchtime 1x ./tlsbridge
func BenchmarkSuspendedHandshake(b *testing.B) {
	f := newFixture(b)
	const n = 2000
	for _, ver := range versions {
		b.Run(ver.name, func(b *testing.B) {
			ts := f.newServer(b, func(c *Config) { c.MaxSuspendedHandshakes, c.MaxSuspendedPerAddr = n, n })
			hello := clientHello(b, f.clientConfig(ver.v))
			var heap, stack float64
			for b.Loop() {
				engines := make([]*stalled, n)
				heap0, stack0 := memInUse()
				for i := range engines {
					engines[i] = stall(b, ts, hello, testPeerAddr)
				}
				heap1, stack1 := memInUse()
				heap, stack = float64(heap1-heap0)/n, float64(stack1-stack0)/n
				for _, s := range engines {
					s.eng.Release()
				}
			}
			b.ReportMetric(heap+stack, "bytes/suspended")
			b.ReportMetric(heap, "heap-bytes/suspended")
			b.ReportMetric(stack, "stack-bytes/suspended")
		})
	}
}
