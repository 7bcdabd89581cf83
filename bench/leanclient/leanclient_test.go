package leanclient_test

import (
	"cmp"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/bench/leanclient"
	"tlslpd/internal/testenv"
)

// TestRun plays counted and timed runs against the baseline over both
// transports, with each way a session can end.
func TestRun(t *testing.T) {
	env := testenv.New(t)
	cases := []struct {
		name      string
		plain     bool
		inject    baseline.Injection
		random    string // the client's idea of the server's random string
		completed bool
		injected  bool
		errors    bool
		sessions  int // default 40
	}{
		{name: "plain, completed", plain: true, inject: baseline.InjectNever, completed: true},
		{name: "tls, completed", inject: baseline.InjectNever, completed: true},
		{name: "plain, injected", plain: true, inject: baseline.InjectAlways, injected: true},
		// 1 in 10.5 sessions completes: 300 make missing either way a 1e-13 chance.
		{name: "tls, reference injection", inject: baseline.InjectReference, completed: true, injected: true, sessions: 300},
		// A FAIL that is not the server's random string is an error.
		{name: "plain, unknown FAIL", plain: true, inject: baseline.InjectAlways, random: "other", errors: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			port, _ := env.StartBaseline(t, baseline.Config{Plain: tc.plain, NBits: 4, Inject: tc.inject}, false)
			sessions := cmp.Or(tc.sessions, 40)
			cfg := leanclient.Config{Addr: "127.0.0.1:" + strconv.Itoa(port), Workers: 3, Sessions: sessions, RandomString: tc.random}
			if !tc.plain {
				cfg.TLS = env.ClientTLS.Clone()
				cfg.TLS.ServerName = "localhost"
			}
			res, err := leanclient.Run(context.Background(), cfg)
			require.NoError(t, err)
			assert.EqualValues(t, sessions, res.Completed+res.Injected+res.Errors, "every counted session is played once")
			assert.Equal(t, tc.completed, res.Completed > 0, "completed %d", res.Completed)
			assert.Equal(t, tc.injected, res.Injected > 0, "injected %d", res.Injected)
			assert.Equal(t, tc.errors, res.Errors > 0, "errors %d: %s", res.Errors, res.ErrSample)
			if tc.errors {
				assert.Contains(t, res.ErrSample, "FAIL")
			}
			assert.Positive(t, res.Seconds)
		})
	}
}

// TestRunDuration stops starting sessions once the duration is up.
func TestRunDuration(t *testing.T) {
	env := testenv.New(t)
	port, _ := env.StartBaseline(t, baseline.Config{Plain: true, ZeroBits: true, Inject: baseline.InjectNever}, false)
	res, err := leanclient.Run(context.Background(), leanclient.Config{Addr: "127.0.0.1:" + strconv.Itoa(port), Workers: 2, Duration: 200 * time.Millisecond})
	require.NoError(t, err)
	assert.Positive(t, res.Completed)
	assert.Zero(t, res.Errors, res.ErrSample)
	assert.Less(t, res.Seconds, 10.0, "the run ended after its duration")
}

func TestRunRefusesIncompleteConfig(t *testing.T) {
	for _, cfg := range []leanclient.Config{
		{Workers: 1, Sessions: 1},
		{Addr: "127.0.0.1:1", Sessions: 1},
		{Addr: "127.0.0.1:1", Workers: 1},
	} {
		_, err := leanclient.Run(context.Background(), cfg)
		assert.ErrorIs(t, err, leanclient.ErrConfig, "%+v", cfg)
	}
}

// TestRunCountsConnectErrors: a port nobody listens on is an error per
// session, not a hang.
func TestRunCountsConnectErrors(t *testing.T) {
	port := testenv.ClosedPort(t)
	res, err := leanclient.Run(context.Background(), leanclient.Config{Addr: "127.0.0.1:" + strconv.Itoa(port), Workers: 2, Sessions: 4})
	require.NoError(t, err)
	assert.EqualValues(t, 4, res.Errors)
	assert.Contains(t, res.ErrSample, "connect")
}
