package tlsbridge

import (
	"crypto/tls"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports process CPU per op (client and server together: both
// run in this process) next to wall-clock ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func plainServerConfig(f *fixture, insecure bool) *tls.Config {
	c := &tls.Config{
		Certificates: []tls.Certificate{f.serverCert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tls12Suites,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    f.pool,
	}
	if insecure {
		c.ClientAuth, c.ClientCAs = tls.NoClientCert, nil
	}
	return c
}

// BenchmarkHandshake: full handshakes (no resumption) through the engine
// vs a plain crypto/tls server, same certificate, same client, in memory.
// Run: go test -run '^$' -bench Handshake -benchtime 2s ./tlsbridge
func BenchmarkHandshake(b *testing.B) {
	f := newFixture(b)
	for _, ver := range versions {
		for _, mode := range []struct {
			name     string
			insecure bool
		}{{"mtls", false}, {"insecure", true}} {
			cc := f.clientConfig(ver.v)
			if mode.insecure {
				cc.Certificates = nil
			}
			b.Run(ver.name+"/"+mode.name+"/engine", func(b *testing.B) {
				ts := f.newServer(b, func(c *Config) {
					c.Insecure = mode.insecure
					if mode.insecure {
						c.ClientCAs = nil
					}
				})
				wake := make(chan struct{}, 1)
				rbuf := make([]byte, 64<<10)
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					h := makeHarness(b, ts, cc, wake)
					h.rbuf = rbuf
					if err := h.handshake(); err != nil || h.eng.State() != Established {
						b.Fatalf("handshake: %v / %v", err, h.eng.Err())
					}
					h.eng.Release()
					h.cli.Close()
				}
				reportCPU(b, start)
			})
			b.Run(ver.name+"/"+mode.name+"/cryptotls", func(b *testing.B) {
				sc := plainServerConfig(f, mode.insecure)
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					cli, srv := memConnPair()
					cerr := async(tls.Client(cli, cc).Handshake)
					s := tls.Server(srv, sc)
					if err := s.Handshake(); err != nil {
						b.Fatal(err)
					}
					if err := <-cerr; err != nil {
						b.Fatal(err)
					}
					cli.Close()
				}
				reportCPU(b, start)
			})
		}
	}
}

// BenchmarkThroughput: plaintext through an established session, 16 KiB
// per op, one goroutine (client reads/writes never block because the data
// is already buffered). "up" is client→server (server decrypts), "down"
// server→client (server encrypts).
// Run: go test -run '^$' -bench Throughput ./tlsbridge
func BenchmarkThroughput(b *testing.B) {
	f := newFixture(b)
	ts := f.newServer(b, nil)
	payload := make([]byte, 16<<10)
	rbuf := make([]byte, 64<<10)
	for _, ver := range versions {
		b.Run(ver.name+"/engine/up", func(b *testing.B) {
			h := established(b, ts, f.clientConfig(ver.v))
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				_, _ = h.client.Write(payload)
				require.NoError(b, h.eng.Feed(h.srv.r.take()))
				for got := 0; got < len(payload); {
					n, err := h.eng.Read(rbuf)
					if err != nil || n == 0 {
						b.Fatalf("read %d: %v", n, err)
					}
					got += n
				}
			}
		})
		b.Run(ver.name+"/engine/down", func(b *testing.B) {
			h := established(b, ts, f.clientConfig(ver.v))
			out := make([]byte, 0, 64<<10)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				require.NoError(b, h.eng.Write(payload))
				out = h.eng.AppendOutgoing(out[:0])
				_, _ = h.srv.Write(out)
				if _, err := io.ReadFull(h.client, rbuf[:len(payload)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, dir := range []string{"up", "down"} {
			b.Run(ver.name+"/cryptotls/"+dir, func(b *testing.B) {
				cli, srv := memConnPair()
				c := tls.Client(cli, f.clientConfig(ver.v))
				s := tls.Server(srv, plainServerConfig(f, false))
				cerr := async(c.Handshake)
				require.NoError(b, s.Handshake())
				require.NoError(b, <-cerr)
				w, r := c, s
				if dir == "down" {
					w, r = s, c
				}
				b.SetBytes(int64(len(payload)))
				b.ReportAllocs()
				for b.Loop() {
					_, _ = w.Write(payload)
					if _, err := io.ReadFull(r, rbuf[:len(payload)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// retainedEngines establishes n engines, exchanges a line each way on each,
// drops every client, and returns the heap bytes retained per engine.
func retainedEngines(b *testing.B, ts *Server, cc *tls.Config, n int, park bool) float64 {
	wake := make(chan struct{}, 1)
	rbuf := make([]byte, 64<<10)
	engines := make([]Engine, n)
	before := heapAfterGC()
	for i := range engines {
		h := makeHarness(b, ts, cc, wake)
		h.rbuf = rbuf
		if err := h.handshake(); err != nil || h.eng.State() != Established {
			b.Fatalf("handshake: %v / %v", err, h.eng.Err())
		}
		if err := h.clientWrite([]byte("HELLOBACK\n"), 10); err != nil {
			b.Fatal(err)
		}
		require.NoError(b, h.eng.Write([]byte("WORK token 28\n")))
		if _, err := h.clientRead(14); err != nil {
			b.Fatal(err)
		}
		h.cli.Close()
		if park {
			h.eng.Park()
		}
		engines[i] = h.eng
	}
	after := heapAfterGC()
	runtime.KeepAlive(engines)
	for _, e := range engines {
		e.Release()
	}
	return float64(after-before) / float64(n)
}

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkRetained reports heap bytes retained per established idle
// session (after GC): the engine (TLS 1.3 on its own record layer, TLS 1.2
// on tls.Conn), parked or not, against a plain crypto/tls server conn.
// Run: go test -run '^$' -bench Retained -benchtime 1x ./tlsbridge
func BenchmarkRetained(b *testing.B) {
	f := newFixture(b)
	const n = 2000
	for _, ver := range versions {
		variants := []struct {
			name string
			park bool
		}{
			{"engine", false},
			{"engine-parked", true},
		}
		for _, v := range variants {
			if ver.v == tls.VersionTLS12 && v.park {
				continue // parking drops TLS 1.3 record-layer keys only
			}
			b.Run(ver.name+"/"+v.name, func(b *testing.B) {
				ts := f.newServer(b, nil)
				var per float64
				for b.Loop() {
					per = retainedEngines(b, ts, f.clientConfig(ver.v), n, v.park)
				}
				b.ReportMetric(per, "bytes/engine")
			})
		}
		b.Run(ver.name+"/cryptotls", func(b *testing.B) {
			sc := plainServerConfig(f, false)
			var per float64
			for b.Loop() {
				conns := make([]*tls.Conn, n)
				before := heapAfterGC()
				buf := make([]byte, 16)
				for i := range conns {
					cli, srv := memConnPair()
					c := tls.Client(cli, f.clientConfig(ver.v))
					cerr := async(c.Handshake)
					s := tls.Server(srv, sc)
					require.NoError(b, s.Handshake())
					require.NoError(b, <-cerr)
					_, _ = c.Write([]byte("HELLOBACK\n"))
					_, _ = io.ReadFull(s, buf[:10])
					_, _ = s.Write([]byte("WORK token 28\n"))
					_, _ = io.ReadFull(c, buf[:14])
					conns[i] = s
				}
				after := heapAfterGC()
				runtime.KeepAlive(conns)
				per = float64(after-before) / n
			}
			b.ReportMetric(per, "bytes/conn")
		})
	}
}
