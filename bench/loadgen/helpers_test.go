package loadgen

import (
	"net"
	"strconv"
	"sync"
	"testing"

	"tlslpd/bench/baseline"
	"tlslpd/internal/testenv"
)

// sourceRecorder remembers the source IPs of accepted connections.
type sourceRecorder struct {
	net.Listener
	mu  sync.Mutex
	ips map[string]int
}

func (s *sourceRecorder) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if err == nil {
		s.mu.Lock()
		s.ips[c.RemoteAddr().(*net.TCPAddr).IP.String()]++
		s.mu.Unlock()
	}
	return c, err
}

func (s *sourceRecorder) sources() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.ips {
		out[k] = v
	}
	return out
}

// startBaseline serves cfg with mTLS on a listener that records sources.
// Unless cfg sets its own, the server's deadlines are stepBound: a loaded
// machine makes sessions slow, and the tests count them, not timeouts.
func startBaseline(t *testing.T, env *testenv.Env, cfg baseline.Config) (int, *sourceRecorder) {
	t.Helper()
	if cfg.OtherTimeout == 0 {
		cfg.OtherTimeout = stepBound
	}
	rec := &sourceRecorder{Listener: testenv.Listen(t), ips: map[string]int{}}
	env.ServeBaseline(t, rec, cfg, false)
	return testenv.Port(rec), rec
}

// startTlslpd runs the in-process tlslpd with args, its handshake and step
// deadlines stepBound unless args set them.
func startTlslpd(t *testing.T, env *testenv.Env, args ...string) int {
	t.Helper()
	bound := strconv.Itoa(int(stepBound.Seconds()))
	return env.StartTlslpd(t, append([]string{"--handshake-timeout", stepBound.String(), "--other-timeout", bound}, args...)...)
}
