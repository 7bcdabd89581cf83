package eventloop

import (
	"net/netip"

	"tlslpd/statemachine"
)

// StepObserver sees every session's protocol steps, on the session's
// loop, for the reference log mode (reflog.ServerSteps). It must not
// block: the loop waits for it.
type StepObserver interface {
	// Started: the TLS handshake with ip is done; the session begins.
	Started(ip netip.Addr)
	// Step: m handled ev in state from and sent sent (a line with its
	// '\n', or nil). sent and ev.Line are only valid during the call.
	Step(m *statemachine.Machine, ev statemachine.Event, from statemachine.State, sent []byte)
	// Ended: the session is over; its record follows.
	Ended(m *statemachine.Machine)
}
