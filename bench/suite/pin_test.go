package suite

import (
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPlanCPUs(t *testing.T) {
	two := planCPUs([]int{0, 1}, "/usr/bin/taskset")
	assert.False(t, two.pinned())
	assert.Contains(t, two.why, "could not pin: 2 CPUs (fewer than 4)")
	assert.Equal(t, []string{"tlslpd"}, two.wrap([]string{"tlslpd"}), "unpinned servers start as they are")

	four := planCPUs([]int{0, 1, 2, 3}, "/usr/bin/taskset")
	assert.True(t, four.pinned())
	assert.Equal(t, []int{0, 1}, four.load)
	assert.Equal(t, []int{2, 3}, four.server)
	assert.Equal(t, []string{"/usr/bin/taskset", "-c", "2,3", "tlslpd", "--port", "1"}, four.wrap([]string{"tlslpd", "--port", "1"}))

	// An affinity mask with gaps (a cpuset) splits what is allowed.
	odd := planCPUs([]int{1, 3, 5, 7, 9}, "/usr/bin/taskset")
	assert.Equal(t, []int{1, 3}, odd.load)
	assert.Equal(t, []int{5, 7, 9}, odd.server)

	none := planCPUs([]int{0, 1, 2, 3, 4, 5}, "")
	assert.False(t, none.pinned())
	assert.Contains(t, none.why, "taskset")
}

func TestAllowedCPUsMatchesTheRuntime(t *testing.T) {
	cpus, err := allowedCPUs()
	assert.NoError(t, err)
	assert.Len(t, cpus, runtime.NumCPU())
}

// The report says what was pinned, or why nothing was.
func TestSetupPinningSaysWhy(t *testing.T) {
	r := &runner{opt: Options{Log: io.Discard}, report: &Report{}}
	if runtime.NumCPU() >= minPinCPUs {
		// Pinning for real would move this test process's threads.
		r.opt.NoPin = true
		r.setupPinning()
		assert.Equal(t, []string{"not pinned (--no-pin): the servers and the load generator share the CPUs"}, r.report.Notes)
		return
	}
	r.setupPinning()
	require.Len(t, r.report.Notes, 1)
	assert.Contains(t, r.report.Notes[0], "could not pin: ")
	assert.False(t, r.cpus.pinned())
}
