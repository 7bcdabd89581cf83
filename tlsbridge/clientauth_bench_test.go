//go:build linux

package tlsbridge

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"tlslpd/identity"
)

// threadCPU is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID):
// unlike the wall clock it does not grow while a busy machine runs
// something else.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// serverHandshake runs one full handshake against ts and returns the CPU
// time the server spent on it: the thread's inside Feed and
// AppendOutgoing, where the engine runs crypto/tls in a coroutine on the
// owner's goroutine, which the caller has locked to its thread (a
// coroutine switch keeps the lock, so the handshake runs on that thread
// too). The client runs on its own goroutine and is not counted.
func serverHandshake(b *testing.B, ts *Server, cc *tls.Config, wake chan struct{}, rbuf []byte) time.Duration {
	h := makeHarness(b, ts, cc, wake)
	h.rbuf = rbuf
	defer func() {
		h.eng.Release()
		h.cli.Close()
	}()
	var cerr error
	cdone := done(h.async(h.client.Handshake), &cerr)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitLimit)
	var spent time.Duration
	for {
		in := h.srv.r.take()
		t0 := threadCPU()
		_ = h.eng.Feed(in)
		out := h.eng.AppendOutgoing(nil)
		spent += threadCPU() - t0
		if len(out) > 0 {
			_, _ = h.srv.Write(out)
		}
		if cdone() && h.eng.State() != Handshaking {
			break
		}
		select {
		case <-h.srv.r.notify:
		case <-h.wake:
		case <-h.ev:
		case <-tick.C:
		case <-deadline:
			b.Fatalf("handshake did not end (state %v, err %v)", h.eng.State(), h.eng.Err())
		}
	}
	if cerr != nil || h.eng.State() != Established {
		b.Fatalf("handshake: %v / %v", cerr, h.eng.Err())
	}
	return spent
}

// plainHandshake is the baseline: one full handshake of a plain
// crypto/tls server (no engine, no chain cache) on the caller's locked
// thread, and the thread CPU it took; blocked reads cost no CPU.
func plainHandshake(b *testing.B, sc, cc *tls.Config) time.Duration {
	cli, srv := memConnPair()
	defer cli.Close()
	cerr := async(tls.Client(cli, cc).Handshake)
	t0 := threadCPU()
	err := tls.Server(srv, sc).Handshake()
	spent := threadCPU() - t0
	if err != nil {
		b.Fatal(err)
	}
	if err := <-cerr; err != nil {
		b.Fatal(err)
	}
	return spent
}

// BenchmarkClientAuthCPU: the server's handshake time per session in
// --client-auth any mode (a self-signed certificate: no chain to verify,
// only the leaf's dates and the client's CertificateVerify) against
// verify mode (a CA-signed certificate, its chain verified) in the same
// run. Each op is one handshake of every variant, interleaved so a busy
// machine weighs on all alike:
//   - verify-cold: the chain is verified (a fresh policy, so the chain
//     cache is empty), as for a certificate seen for the first time;
//   - verify-cached: the same certificate again, its chain remembered
//     (what a load test with one client certificate costs);
//   - any: a transient self-signed certificate;
//   - any-lists: any, plus the identity rules (a 10,000-entry deny list
//     and an allow list holding the client) judging every handshake;
//   - the baseline, a plain crypto/tls server in the same two modes:
//     RequireAndVerifyClientCert (its chain verified every time) and
//     RequireAnyClientCert with the transient certificate.
//
// The ratios any/verify-cold and any/verify-cached are reported as
// metrics, with each variant's server CPU per handshake. Full handshakes,
// no resumption.
// Run: go test -run '^$' -bench ClientAuthCPU -benchtime 400x ./tlsbridge
func BenchmarkClientAuthCPU(b *testing.B) {
	f := newFixture(b)
	transient, err := identity.Transient("bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	rules := benchRules(b, identity.Of(transient.Certificate[0]))
	for _, ver := range versions {
		b.Run(ver.name, func(b *testing.B) {
			// Locked before the servers exist: their handshake coroutines
			// must be made, run and ended on this thread (Close runs
			// before the unlock).
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			verifyCfg := f.config()
			anyCfg := Config{Certificate: f.serverCert, ClientAuth: ClientAuthAny}
			listsCfg := anyCfg
			listsCfg.Identity = func(leaf *x509.Certificate) error {
				if leaf == nil {
					return rules.Check(identity.Fingerprint{}, false)
				}
				return rules.Check(identity.Of(leaf.Raw), true)
			}
			var servers []*Server
			for _, cfg := range []Config{verifyCfg, anyCfg, listsCfg} {
				ts, err := NewServer(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer ts.Close()
				servers = append(servers, ts)
			}
			verify, anySrv, anyLists := servers[0], servers[1], servers[2]
			caClient := f.clientConfig(ver.v)
			selfSigned := f.clientConfig(ver.v)
			selfSigned.Certificates = []tls.Certificate{transient}
			selfSigned.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &transient, nil }

			wake := make(chan struct{}, 1)
			rbuf := make([]byte, 64<<10)
			plainVerify := &tls.Config{Certificates: []tls.Certificate{f.serverCert}, MinVersion: tls.VersionTLS12,
				CipherSuites: tls12Suites, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: f.pool}
			plainAny := plainVerify.Clone()
			plainAny.ClientAuth, plainAny.ClientCAs = tls.RequireAnyClientCert, nil
			var cold, cached, anyT, listsT, baseVerify, baseAny time.Duration
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				b.StopTimer()
				if err := verify.Reload(verifyCfg); err != nil { // an empty chain cache
					b.Fatal(err)
				}
				b.StartTimer()
				cold += serverHandshake(b, verify, caClient, wake, rbuf)
				cached += serverHandshake(b, verify, caClient, wake, rbuf)
				anyT += serverHandshake(b, anySrv, selfSigned, wake, rbuf)
				listsT += serverHandshake(b, anyLists, selfSigned, wake, rbuf)
				baseVerify += plainHandshake(b, plainVerify, caClient)
				baseAny += plainHandshake(b, plainAny, selfSigned)
			}
			reportCPU(b, start)
			n := float64(b.N)
			b.ReportMetric(float64(cold)/n, "verify-cold-cpu-ns/hs")
			b.ReportMetric(float64(cached)/n, "verify-cached-cpu-ns/hs")
			b.ReportMetric(float64(anyT)/n, "any-cpu-ns/hs")
			b.ReportMetric(float64(listsT)/n, "any-lists-cpu-ns/hs")
			b.ReportMetric(float64(anyT)/float64(cold), "any/verify-cold")
			b.ReportMetric(float64(anyT)/float64(cached), "any/verify-cached")
			b.ReportMetric(float64(listsT)/float64(anyT), "any-lists/any")
			b.ReportMetric(float64(baseVerify)/n, "baseline-verify-cpu-ns/hs")
			b.ReportMetric(float64(baseAny)/n, "baseline-any-cpu-ns/hs")
			b.ReportMetric(float64(baseAny)/float64(baseVerify), "baseline-any/verify")
			b.ReportMetric(float64(anyT)/float64(baseAny), "any/baseline-any")
		})
	}
}

// benchRules is a deny list of 10,000 fingerprints and an allow list
// holding only allowed.
func benchRules(b *testing.B, allowed identity.Fingerprint) *identity.Rules {
	dir := b.TempDir()
	deny := make([]byte, 0, 10000*65)
	for i := range 10000 {
		var fp identity.Fingerprint
		fp[0], fp[1], fp[2] = byte(i), byte(i>>8), 0xee
		deny = append(deny, fp.String()+"\n"...)
	}
	rules, err := identity.New(identity.Options{
		AllowFile: writeBenchFile(b, dir, "allow", []byte(allowed.String()+"\n")),
		DenyFile:  writeBenchFile(b, dir, "deny", deny),
	})
	if err != nil {
		b.Fatal(err)
	}
	return rules
}

func writeBenchFile(b *testing.B, dir, name string, data []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}
