package suite

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		utime     uint64
		stime     uint64
		ppid      int
		wantError string
	}{
		{
			name:  "plain",
			in:    "1234 (tlslpd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 6 0 100 1000 200 18446744073709551615",
			utime: 250, stime: 75, ppid: 1,
		},
		{
			name:  "command with spaces and parentheses",
			in:    "77 (my (odd) prog) R 42 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 6 7",
			utime: 7, stime: 3, ppid: 42,
		},
		{name: "no command", in: "1234 tlslpd S 1", wantError: "no ')'"},
		{name: "truncated", in: "1 (x) S 0 1 1", wantError: "fields after the command name"},
		{name: "bad utime", in: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 x 3 0 0", wantError: "utime"},
		{name: "bad ppid", in: "1 (x) S p 1 1 0 -1 0 0 0 0 0 1 3 0 0", wantError: "ppid"},
		{name: "bad stime", in: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 1 y 0 0", wantError: "stime"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			utime, stime, ppid, err := ParseStatTimes(tc.in)
			ticks, ppid2, err2 := ParseStat(tc.in)
			if tc.wantError != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantError)
				assert.Equal(t, err, err2)
				return
			}
			require.NoError(t, err)
			require.NoError(t, err2)
			assert.Equal(t, tc.utime, utime)
			assert.Equal(t, tc.stime, stime)
			assert.Equal(t, tc.utime+tc.stime, ticks)
			assert.Equal(t, tc.ppid, ppid)
			assert.Equal(t, tc.ppid, ppid2)
		})
	}
}

func TestParseIO(t *testing.T) {
	tests := []struct {
		name          string
		in            string
		reads, writes uint64
		wantError     string
	}{
		{name: "kernel's format", in: "rchar: 6976\nwchar: 0\nsyscr: 10\nsyscw: 3\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n", reads: 10, writes: 3},
		{name: "no syscw", in: "syscr: 10\n", wantError: "no syscr and syscw"},
		{name: "bad number", in: "syscr: ten\nsyscw: 1\n", wantError: "syscr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := ParseIO(tc.in)
			if tc.wantError != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantError)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.reads, r)
			assert.Equal(t, tc.writes, w)
		})
	}
}

func TestParseCPULine(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      MachineCPU
		wantError string
	}{
		{
			// Guest and guest_nice (the last two) are already in user and
			// nice, so they must not count twice.
			name: "kernel 6",
			in:   "cpu  100 5 50 800 20 3 7 15 40 2\ncpu0 50 2 25 400 10 1 3 7 20 1\n",
			want: MachineCPU{Idle: 820, Total: 1000},
		},
		{name: "per-cpu line first", in: "cpu0 1 2 3 4 5 6 7 8\n", wantError: "want 'cpu'"},
		{name: "too few counters", in: "cpu 1 2 3\n", wantError: "at least 8"},
		{name: "not a number", in: "cpu 1 2 3 x 5 6 7 8\n", wantError: "counter 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCPULine(tc.in)
			if tc.wantError != "" {
				require.ErrorContains(t, err, tc.wantError)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	later := MachineCPU{Idle: 900, Total: 1200}
	assert.Equal(t, MachineCPU{Idle: 80, Total: 200}, later.Since(MachineCPU{Idle: 820, Total: 1000}))
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      int64
		wantError string
	}{
		{"typical", "Name:\ttlslpd\nVmPeak:\t  99999 kB\nVmRSS:\t   20480 kB\nRssAnon:\t 1 kB\n", 20480 * 1024, ""},
		{"missing", "Name:\tkthreadd\nState:\tS\n", 0, "no VmRSS"},
		{"bad unit", "VmRSS:\t 12 MB\n", 0, "want '<n> kB'"},
		{"bad number", "VmRSS:\t 1x kB\n", 0, "VmRSS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVmRSS(tc.in)
			if tc.wantError != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantError)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func auxv(pairs ...uint64) []byte {
	b := make([]byte, 0, 8*len(pairs))
	for _, p := range pairs {
		b = binary.NativeEndian.AppendUint64(b, p)
	}
	return b
}

func TestParseAuxv(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint64
		ok   bool
	}{
		{"found", auxv(6, 4096, atClkTck, 100, 0, 0), 100, true},
		{"after null ends", auxv(6, 4096, 0, 0, atClkTck, 250), 0, false},
		{"absent", auxv(6, 4096, 0, 0), 0, false},
		{"truncated", auxv(6)[:7], 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseAuxv(tc.in, atClkTck)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
	assert.Equal(t, float64(userHZ), clockTicks(filepath.Join(t.TempDir(), "missing")))
	// This machine's own vector must carry a sane tick.
	assert.Greater(t, clockTicks("/proc/self/auxv"), 0.0)
}

// fakeProc writes a /proc-like tree: pid -> (ppid, ticks, rss kB, fds),
// a quarter of the ticks as stime, and as many read and write calls as
// ticks and fds (no io file for pid 12, as where it cannot be read).
func fakeProc(t *testing.T, procs map[int][4]int) string {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		stat := strconv.Itoa(pid) + " (srv) S " + strconv.Itoa(p[0]) + " 1 1 0 -1 0 0 0 0 0 " + strconv.Itoa(p[1]-p[1]/4) + " " + strconv.Itoa(p[1]/4) + " 0 0 20 0 1 0 1 1 1"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(stat+"\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "status"), []byte("VmRSS:\t"+strconv.Itoa(p[2])+" kB\n"), 0o644))
		if pid != 12 {
			io := "syscr: " + strconv.Itoa(p[1]) + "\nsyscw: " + strconv.Itoa(p[3]) + "\n"
			require.NoError(t, os.WriteFile(filepath.Join(dir, "io"), []byte(io), 0o644))
		}
		for i := range p[3] {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "fd", strconv.Itoa(i)), nil, 0o644))
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "self"), 0o755)) // non-numeric entries are skipped
	return root
}

func TestProcReaderSampleAndTree(t *testing.T) {
	root := fakeProc(t, map[int][4]int{
		10: {1, 200, 1000, 3},  // nginx master
		11: {10, 300, 2000, 5}, // worker
		12: {10, 100, 3000, 7}, // worker
		13: {11, 999, 9999, 9}, // grandchild: not summed
		14: {1, 999, 9999, 9},  // unrelated
	})
	r := ProcReader{Root: root, Ticks: 100}

	s, err := r.Sample(10)
	require.NoError(t, err)
	assert.Equal(t, ProcSample{CPUSeconds: 2, RSSBytes: 1000 * 1024, FDs: 3,
		ProcCounters: ProcCounters{UserSeconds: 1.5, SystemSeconds: 0.5, ReadCalls: 200, WriteCalls: 3, IOKnown: true}}, s)

	kids, err := r.Children(10)
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{11, 12}, kids)

	tree, err := r.SampleTree(10)
	require.NoError(t, err)
	assert.Equal(t, ProcSample{CPUSeconds: 6, RSSBytes: 6000 * 1024, FDs: 15,
		ProcCounters: ProcCounters{UserSeconds: 4.5, SystemSeconds: 1.5, ReadCalls: 500, WriteCalls: 8, IOKnown: false}}, tree)

	_, err = r.Sample(99)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pid 99")
}

func TestProcReaderSelf(t *testing.T) {
	s, err := NewProcReader().Sample(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, s.RSSBytes)
	assert.Positive(t, s.FDs)
	assert.GreaterOrEqual(t, s.CPUSeconds, 0.0)
}

func TestProcReaderMachine(t *testing.T) {
	m, err := NewProcReader().Machine()
	require.NoError(t, err)
	assert.Positive(t, m.Total)
	assert.Less(t, m.Idle, m.Total)

	_, err = ProcReader{Root: t.TempDir()}.Machine()
	require.ErrorContains(t, err, "machine stat")
}
