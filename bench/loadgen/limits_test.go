package loadgen

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCapConcurrency(t *testing.T) {
	tests := []struct {
		name      string
		requested int
		nofile    uint64
		want      int
		capped    bool
	}{
		{"well below", 100, 20000, 100, false},
		{"exactly the allowance", 20000 - 64 - 2000, 20000, 17936, false},
		{"one over", 17937, 20000, 17936, true},
		{"far over", 50000, 20000, 17936, true},
		{"small limit", 1000, 1024, 1024 - 64 - 102, true},
		{"limit below reserve", 10, 50, 1, true},
		{"one session below reserve", 1, 50, 1, false},
		{"zero requested", 0, 1024, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, capped := CapConcurrency(tc.requested, tc.nofile)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.capped, capped)
		})
	}
}

func TestCapMessage(t *testing.T) {
	msg := CapMessage("--park", 30000, 17936, 20000)
	assert.Contains(t, msg, "30000")
	assert.Contains(t, msg, "17936")
	assert.Contains(t, msg, "RLIMIT_NOFILE 20000")
	assert.NotContains(t, msg, "\n")
}

func TestSourceAddrs(t *testing.T) {
	tests := []struct {
		host  string
		k     int
		first string
		last  string
		n     int
	}{
		{"127.0.0.1", 8, "127.0.0.1", "127.0.0.8", 8},
		{"localhost", 3, "127.0.0.1", "127.0.0.3", 3},
		{"127.0.0.5", 2, "127.0.0.1", "127.0.0.2", 2},
		{"127.0.0.1", 1, "", "", 0},
		{"127.0.0.1", 0, "", "", 0},
		{"127.0.0.1", 1000, "127.0.0.1", "127.0.0.254", 254},
		{"::1", 8, "", "", 0},
		{"10.0.0.1", 8, "", "", 0},
		{"example.com", 8, "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			got := SourceAddrs(tc.host, tc.k)
			assert.Len(t, got, tc.n)
			if tc.n > 0 {
				assert.Equal(t, tc.first, got[0].IP.String())
				assert.Equal(t, tc.last, got[len(got)-1].IP.String())
			}
		})
	}
}
