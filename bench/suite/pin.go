package suite

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// minPinCPUs is the fewest CPUs worth splitting: with fewer, one side
// would get a single core and the split would measure that, not tlslpd.
const minPinCPUs = 4

// cpuPlan splits the CPUs the suite may use between the servers under
// test (started through taskset) and the load generator (this process).
// A server started on k CPUs sizes GOMAXPROCS, and so tlslpd its event
// loops, to k: the measurement is of a k-core server.
type cpuPlan struct {
	server, load []int
	taskset      string // taskset's path
	why          string // why nothing is pinned; empty when pinned
}

func (p cpuPlan) pinned() bool { return p.why == "" }

// planCPUs splits allowed (this process's affinity) in two halves, the
// upper one for the servers.
func planCPUs(allowed []int, taskset string) cpuPlan {
	switch {
	case len(allowed) < minPinCPUs:
		return cpuPlan{why: fmt.Sprintf("could not pin: %d CPUs (fewer than %d), so the servers and the load generator share them", len(allowed), minPinCPUs)}
	case taskset == "":
		return cpuPlan{why: "could not pin: taskset (util-linux) is not installed, so the servers and the load generator share the CPUs"}
	}
	half := len(allowed) / 2
	return cpuPlan{load: allowed[:half], server: allowed[half:], taskset: taskset}
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var out []int
	for i := 0; i < len(set)*64 && len(out) < set.Count(); i++ {
		if set.IsSet(i) {
			out = append(out, i)
		}
	}
	return out, nil
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// wrap prefixes a server's command line with taskset when pinned.
func (p cpuPlan) wrap(argv []string) []string {
	if !p.pinned() {
		return argv
	}
	return append([]string{p.taskset, "-c", cpuList(p.server)}, argv...)
}

// pinSelf moves every thread of this process onto the load generator's
// CPUs (threads made later inherit it) and sizes GOMAXPROCS to them.
func (p cpuPlan) pinSelf() error {
	if !p.pinned() {
		return nil
	}
	var set unix.CPUSet
	for _, c := range p.load {
		set.Set(c)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("list threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pin thread %d: %w", tid, err)
		}
	}
	runtime.GOMAXPROCS(len(p.load))
	return nil
}

// setupPinning decides and applies the split, and says in the report
// what was done.
func (r *runner) setupPinning() {
	if r.opt.NoPin {
		r.note("not pinned (--no-pin): the servers and the load generator share the CPUs")
		return
	}
	allowed, err := allowedCPUs()
	if err != nil {
		r.note("could not pin: %v", err)
		return
	}
	taskset, _ := exec.LookPath("taskset")
	plan := planCPUs(allowed, taskset)
	if err := plan.pinSelf(); err != nil {
		r.note("could not pin: %v", err)
		return
	}
	r.cpus = plan
	if !plan.pinned() {
		r.note("%s", plan.why)
		return
	}
	r.note("pinned: servers on CPUs %s (GOMAXPROCS %d, so tlslpd runs %d event loops), load generator on CPUs %s",
		cpuList(plan.server), len(plan.server), len(plan.server), cpuList(plan.load))
}
