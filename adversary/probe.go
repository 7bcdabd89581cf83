package adversary

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"tlslpd/client"
)

// Probe is the honest client: a full tlslp session from 127.0.0.1 with the
// project's own client, timed.
type Probe struct {
	Target Target
	// Timeout bounds every step but WORK (the client's OtherTimeout); the
	// WORK step gets the same. 0 means 10 s.
	Timeout time.Duration
}

// ProbeResult is one honest session.
type ProbeResult struct {
	// HandshakeWait runs from the connect to the end of the TLS handshake:
	// what stalled handshakes ahead of it add to.
	HandshakeWait time.Duration
	Total         time.Duration
	Outcome       client.Outcome
	Err           error
	injected      bool
}

// Done reports whether the session reached the protocol's end (DONE/OK or
// the server's injected FAIL): the server served it.
func (r ProbeResult) Done() bool {
	return r.Outcome == client.OutcomeCompleted || (r.Outcome == client.OutcomeServerFail && r.injected)
}

// Run performs one session.
func (p Probe) Run(ctx context.Context) ProbeResult {
	if err := p.Target.check(); err != nil {
		return ProbeResult{Err: err}
	}
	host, portS, _ := net.SplitHostPort(p.Target.Addr)
	port, _ := strconv.Atoi(portS)
	to := p.Timeout
	if to <= 0 {
		to = 10 * time.Second
	}
	res, err := client.Run(ctx, client.Config{
		Host: host, Ports: []int{port}, TLS: p.Target.TLS,
		WorkTimeout: to, OtherTimeout: to, SolverWorkers: 1,
	})
	out := ProbeResult{HandshakeWait: res.Timing.Connect + res.Timing.Handshake, Total: res.Timing.Total, Outcome: res.Outcome, injected: res.Injected}
	if err != nil && !(res.Outcome == client.OutcomeServerFail && res.Injected) {
		out.Err = fmt.Errorf("honest session: %w", err)
	}
	return out
}
