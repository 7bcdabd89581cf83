package protocol

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsFixedFail(t *testing.T) {
	tests := map[string]bool{
		FailInvalidSuffix:             true,
		FailInvalidChecksum:           true,
		FailReceiving:                 true,
		FailExpectedHelloBack:         true,
		FailExpectedOK:                true,
		FailHelloTimeout:              true,
		FailWorkTimeout:               true,
		FailBodyTimeout:               true,
		FailDoneTimeout:               true,
		FailShutdown:                  true,
		"FAIL " + DefaultRandomString: false,
		"FAIL":                        false,
		"FAIL receiving":              false, // no full stop: not the reference's line
	}
	for line, want := range tests {
		assert.Equal(t, want, IsFixedFail(line), line)
	}
}

func TestBodyCommandsCount(t *testing.T) {
	assert.Len(t, BodyCommands, NumBodyCommands)
	seen := map[string]bool{}
	for _, c := range BodyCommands {
		assert.False(t, seen[c], c)
		seen[c] = true
	}
}
