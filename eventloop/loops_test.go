package eventloop

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Event loops follow GOMAXPROCS (the cores, or a container's CPU limit).
func TestDefaultLoopsFollowGOMAXPROCS(t *testing.T) {
	old := runtime.GOMAXPROCS(3)
	defer runtime.GOMAXPROCS(old)
	assert.Equal(t, 3, DefaultLoops())
	runtime.GOMAXPROCS(1)
	assert.Equal(t, 1, DefaultLoops())
}
