package daemon_test

import (
	"context"
	"crypto/tls"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/loadgen"
	lpclient "tlslpd/client"
	"tlslpd/internal/testenv"
)

// interopBound bounds every step of these tests, on both sides: generous,
// so that a loaded machine under -race makes sessions slow, not timed out
// (client and daemon share this process and its CPU).
const interopBound = time.Minute

// inProcess runs a daemon in this process on 127.0.0.1:0 (the shared test
// environment's) and returns its port and a client TLS config. Its
// handshake and step deadlines are interopBound unless args set them.
func inProcess(t *testing.T, args ...string) (int, *tls.Config) {
	t.Helper()
	env := testenv.New(t)
	bounds := []string{"--handshake-timeout", interopBound.String(), "--other-timeout", strconv.Itoa(int(interopBound.Seconds()))}
	return env.StartTlslpd(t, append(bounds, args...)...), env.ClientTLS
}

func TestClientAgainstTlslpd(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		tutorial bool
	}{
		{"normal mode", []string{"--n_bits", "8"}, false},
		{"tutorial", []string{"--n_bits", "8", "--tutorial"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port, tlsCfg := inProcess(t, tc.args...)
			res, err := lpclient.Run(context.Background(), lpclient.Config{
				Host: "127.0.0.1", Ports: []int{port}, TLS: tlsCfg, Tutorial: tc.tutorial,
				WorkTimeout: interopBound, OtherTimeout: interopBound, SolverWorkers: 1,
			})
			// Normal mode may inject FAIL <random_string>: a protocol outcome,
			// not an error of either side.
			var fail *lpclient.ServerFailError
			if errors.As(err, &fail) {
				require.False(t, tc.tutorial, "tutorial mode never injects FAIL")
				assert.True(t, fail.Injected, fail.Line)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, 8, res.NBits)
			if tc.tutorial {
				assert.Equal(t, 8, res.BodyRequests)
			} else {
				assert.Equal(t, 20, res.BodyRequests)
			}
		})
	}
}

func TestLoadGeneratorAgainstTlslpd(t *testing.T) {
	port, tlsCfg := inProcess(t, "--n_bits", "4")
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		// The summary reports the difficulty the server sent.
		Host: "127.0.0.1", Port: port, TLS: tlsCfg, Workers: 4, Sessions: 60,
		SourceIPs: 2, WorkTimeout: interopBound, OtherTimeout: interopBound,
	})
	require.NoError(t, err)
	c := sum.Counts
	assert.Equal(t, uint64(60), c.Total())
	assert.Equal(t, uint64(60), c.Completed+c.InjectedFail, "every session ends completed or injected: %+v", c)
	assert.Zero(t, c.ServerFail+c.TLSErrors+c.Timeouts+c.ConnectErrors+c.ProtocolErrors)
	assert.Equal(t, 4, sum.NBits)
}

func TestLoadGeneratorParksOnTlslpd(t *testing.T) {
	// 64 dialers at once under the race detector make every handshake
	// wait past the default shed target: this test is about parking.
	port, tlsCfg := inProcess(t, "--n_bits", "28", "--work-timeout", "60", "--shed-delay", "-1s")
	sum, err := loadgen.Run(context.Background(), loadgen.Config{
		Host: "127.0.0.1", Port: port, TLS: tlsCfg, Park: 100, Hold: 300 * time.Millisecond,
		WorkTimeout: interopBound, OtherTimeout: interopBound,
	})
	require.NoError(t, err)
	require.NotNil(t, sum.Park)
	assert.Equal(t, 100, sum.Park.Parked)
	assert.Zero(t, sum.Park.Dropped)
}
