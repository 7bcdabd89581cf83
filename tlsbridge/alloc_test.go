package tlsbridge

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/require"
)

// clientRecords has the client write line n times and returns each write's
// ciphertext separately, for feeding one request at a time.
func clientRecords(t testing.TB, h *harness, line []byte, n int) [][]byte {
	t.Helper()
	recs := make([][]byte, n)
	for i := range recs {
		_, err := h.client.Write(line)
		require.NoError(t, err)
		recs[i] = h.srv.r.take()
	}
	return recs
}

// lineCycle is the server's per-line hot path: one request record in, its
// plaintext out, a reply in, the reply's ciphertext out.
func lineCycle(h *harness, rec, reply, buf, dst []byte) (int, []byte, error) {
	if err := h.eng.Feed(rec); err != nil {
		return 0, dst, err
	}
	n, err := h.eng.Read(buf)
	if err != nil {
		return n, dst, err
	}
	if err := h.eng.Write(reply); err != nil {
		return n, dst, err
	}
	return n, h.eng.AppendOutgoing(dst[:0]), nil
}

var (
	testLine  = []byte("a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90 Jane Q. Public\n")
	testReply = []byte("FULL_NAME LGTk\n")
)

func TestSteadyStateZeroAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items on purpose); run without -race")
	}
	f := newFixture(t)
	ts := f.newServer(t, nil)
	tests := []struct {
		name    string
		version uint16
		allocs  float64
	}{
		{"tls13 record layer", tls.VersionTLS13, 0},
		// crypto/tls allocates one atLeastReader per record read
		// (Conn.readFromUntil); that is outside this package's reach.
		{"tls12 tls.Conn", tls.VersionTLS12, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := established(t, ts, f.clientConfig(tc.version))
			const runs = 200
			recs := clientRecords(t, h, testLine, runs+1)
			buf := make([]byte, 4096)
			dst := make([]byte, 0, 4096)
			i := 0
			var failed error
			allocs := testing.AllocsPerRun(runs, func() {
				n, out, err := lineCycle(h, recs[i], testReply, buf, dst)
				i++
				if err == nil && (n != len(testLine) || len(out) == 0) {
					t.Errorf("cycle %d: read %d, out %d", i, n, len(out))
				}
				if err != nil {
					failed = err
				}
			})
			require.NoError(t, failed)
			require.Equal(t, runs+1, i)
			require.Equal(t, tc.allocs, allocs, "allocations per request/reply")
		})
	}
}

// BenchmarkLineCycle: the per-line hot path on an established engine.
// Run: go test -run '^$' -bench LineCycle ./tlsbridge
func BenchmarkLineCycle(b *testing.B) {
	f := newFixture(b)
	ts := f.newServer(b, nil)
	for _, ver := range versions {
		b.Run(ver.name, func(b *testing.B) {
			h := established(b, ts, f.clientConfig(ver.v))
			buf := make([]byte, 4096)
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				recs := clientRecords(b, h, testLine, 1)
				b.StartTimer()
				if _, _, err := lineCycle(h, recs[0], testReply, buf, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
