package suite

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of utime/stime in /proc/PID/stat. The kernel exports
// these in USER_HZ, which is 100 on every Linux ABI, whatever CONFIG_HZ is;
// clockTicks reads the real value from the auxiliary vector when it can.
const userHZ = 100

// atClkTck is AT_CLKTCK in the ELF auxiliary vector.
const atClkTck = 17

// ProcSample is one reading of a process (or a sum over a process tree).
type ProcSample struct {
	CPUSeconds float64 // utime+stime
	ProcCounters
	RSSBytes int64 // VmRSS
	FDs      int   // entries in /proc/PID/fd
}

// ProcCounters are the counts a process accumulates that the suite adds
// up over processes and windows and subtracts between two samples; the
// JSON names are the transports table's, where they are the server's.
type ProcCounters struct {
	// UserSeconds and SystemSeconds are utime and stime apart: the
	// process's own code, and the kernel working for it (system calls,
	// and the network stack's work done in its context).
	UserSeconds   float64 `json:"server_user_s"`
	SystemSeconds float64 `json:"server_system_s"`
	// ReadCalls and WriteCalls are syscr and syscw of /proc/PID/io: the
	// read-like and write-like system calls so far. IOKnown is false where
	// that file could not be read (it needs ptrace-read access) in any of
	// the samples a figure comes from.
	ReadCalls  uint64 `json:"read_calls"`
	WriteCalls uint64 `json:"write_calls"`
	IOKnown    bool   `json:"io_known"`
}

// Add adds o's counts to c's.
func (c *ProcCounters) Add(o ProcCounters) {
	c.UserSeconds += o.UserSeconds
	c.SystemSeconds += o.SystemSeconds
	c.ReadCalls += o.ReadCalls
	c.WriteCalls += o.WriteCalls
	c.IOKnown = c.IOKnown && o.IOKnown
}

// Since is what was counted between an earlier sample, before, and c.
func (c ProcCounters) Since(before ProcCounters) ProcCounters {
	return ProcCounters{
		UserSeconds: c.UserSeconds - before.UserSeconds, SystemSeconds: c.SystemSeconds - before.SystemSeconds,
		ReadCalls: c.ReadCalls - before.ReadCalls, WriteCalls: c.WriteCalls - before.WriteCalls,
		IOKnown: c.IOKnown && before.IOKnown,
	}
}

// ParseIO returns syscr and syscw from the contents of /proc/PID/io.
func ParseIO(s string) (reads, writes uint64, err error) {
	found := 0
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "syscr" && k != "syscw") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s %q: %w", k, strings.TrimSpace(v), err)
		}
		if k == "syscr" {
			reads = n
		} else {
			writes = n
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("no syscr and syscw lines")
	}
	return reads, writes, nil
}

// ProcReader reads process figures from a /proc tree (a parameter so tests
// can point it at fixtures).
type ProcReader struct {
	Root  string // usually "/proc"
	Ticks float64
}

// NewProcReader reads /proc with this system's clock tick.
func NewProcReader() ProcReader {
	return ProcReader{Root: "/proc", Ticks: clockTicks("/proc/self/auxv")}
}

// clockTicks returns AT_CLKTCK from an auxv file, or userHZ.
func clockTicks(auxv string) float64 {
	b, err := os.ReadFile(auxv)
	if err != nil {
		return userHZ
	}
	if v, ok := parseAuxv(b, atClkTck); ok && v > 0 {
		return float64(v)
	}
	return userHZ
}

// parseAuxv finds key in a native-endian 64-bit auxiliary vector.
func parseAuxv(b []byte, key uint64) (uint64, bool) {
	for len(b) >= 16 {
		k := binary.NativeEndian.Uint64(b)
		v := binary.NativeEndian.Uint64(b[8:])
		if k == key {
			return v, true
		}
		if k == 0 {
			break
		}
		b = b[16:]
	}
	return 0, false
}

// ParseStat returns utime+stime (in ticks) and the parent pid from the
// contents of /proc/PID/stat. The command name is in parentheses and may
// itself hold spaces and parentheses, so fields are counted from the last
// ')'.
func ParseStat(s string) (ticks uint64, ppid int, err error) {
	ut, st, ppid, err := ParseStatTimes(s)
	return ut + st, ppid, err
}

// ParseStatTimes is ParseStat with utime and stime apart.
func ParseStatTimes(s string) (utime, stime uint64, ppid int, err error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, 0, errors.New("no ')' after the command name")
	}
	// After ")": state(3) ppid(4) ... utime(14) stime(15), 1-based.
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, 0, fmt.Errorf("ppid %q: %w", f[1], err)
	}
	utime, err = strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("utime %q: %w", f[11], err)
	}
	stime, err = strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("stime %q: %w", f[12], err)
	}
	return utime, stime, ppid, nil
}

// ParseVmRSS returns VmRSS in bytes from the contents of /proc/PID/status.
func ParseVmRSS(s string) (int64, error) {
	for line := range strings.Lines(s) {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want '<n> kB'", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", f[0], err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS line (kernel thread or exited process?)")
}

// Sample reads one process.
func (r ProcReader) Sample(pid int) (ProcSample, error) {
	dir := filepath.Join(r.Root, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	ut, st, _, err := ParseStatTimes(string(stat))
	if err != nil {
		return ProcSample{}, fmt.Errorf("parse stat of pid %d: %w", pid, err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return ProcSample{}, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	rss, err := ParseVmRSS(string(status))
	if err != nil {
		return ProcSample{}, fmt.Errorf("parse status of pid %d: %w", pid, err)
	}
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return ProcSample{}, fmt.Errorf("list fds of pid %d: %w", pid, err)
	}
	s := ProcSample{CPUSeconds: float64(ut+st) / r.Ticks, RSSBytes: rss, FDs: len(fds),
		ProcCounters: ProcCounters{UserSeconds: float64(ut) / r.Ticks, SystemSeconds: float64(st) / r.Ticks}}
	if io, err := os.ReadFile(filepath.Join(dir, "io")); err == nil {
		s.ReadCalls, s.WriteCalls, err = ParseIO(string(io))
		s.IOKnown = err == nil
	}
	return s, nil
}

// Children returns the pids whose parent is pid, by scanning every
// /proc/N/stat (nginx's workers are the master's children).
func (r ProcReader) Children(pid int) ([]int, error) {
	ents, err := os.ReadDir(r.Root)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", r.Root, err)
	}
	var kids []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.Root, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		if _, pp, err := ParseStat(string(bytes.TrimSpace(b))); err == nil && pp == pid {
			kids = append(kids, n)
		}
	}
	return kids, nil
}

// SampleTree sums a process and its direct children. Children that exit
// between the listing and the read are skipped: their CPU time then goes
// missing from the sum, which only happens when a worker dies, and the
// caller would see that elsewhere.
func (r ProcReader) SampleTree(pid int) (ProcSample, error) {
	s, err := r.Sample(pid)
	if err != nil {
		return s, err
	}
	kids, err := r.Children(pid)
	if err != nil {
		return s, err
	}
	for _, k := range kids {
		ks, err := r.Sample(k)
		if err != nil {
			continue
		}
		s.CPUSeconds += ks.CPUSeconds
		s.Add(ks.ProcCounters)
		s.RSSBytes += ks.RSSBytes
		s.FDs += ks.FDs
	}
	return s, nil
}

// MachineCPU is a reading of the whole machine's CPU time, in ticks.
type MachineCPU struct {
	Idle  uint64 // idle + iowait
	Total uint64 // user nice system idle iowait irq softirq steal
}

// Since is the CPU time that passed between an earlier reading and m.
func (m MachineCPU) Since(before MachineCPU) MachineCPU {
	return MachineCPU{Idle: m.Idle - before.Idle, Total: m.Total - before.Total}
}

// ParseCPULine reads the aggregate "cpu" line of /proc/stat. Guest time
// is already counted in user and nice, so only the first eight fields add
// up to the total.
func ParseCPULine(stat string) (MachineCPU, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return MachineCPU{}, fmt.Errorf("first line %q: want 'cpu' and at least 8 counters", line)
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return MachineCPU{}, fmt.Errorf("cpu counter %d %q: %w", i+1, f[i+1], err)
		}
		v[i] = n
	}
	m := MachineCPU{Idle: v[3] + v[4]}
	for _, n := range v {
		m.Total += n
	}
	return m, nil
}

// Machine reads the whole machine's CPU time from /proc/stat.
func (r ProcReader) Machine() (MachineCPU, error) {
	b, err := os.ReadFile(filepath.Join(r.Root, "stat"))
	if err != nil {
		return MachineCPU{}, fmt.Errorf("read machine stat: %w", err)
	}
	m, err := ParseCPULine(string(b))
	if err != nil {
		return MachineCPU{}, fmt.Errorf("parse machine stat: %w", err)
	}
	return m, nil
}
