package reflog

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"tlslpd/protocol"
	"tlslpd/statemachine"
)

// ServerSteps turns a session's steps into the reference server's lines.
// Its methods run on the session's event loop; each costs a line's
// formatting and a copy into the (batching) writers.
type ServerSteps struct{ l *Logger }

// NewServerSteps logs through l.
func NewServerSteps(l *Logger) *ServerSteps { return &ServerSteps{l: l} }

// stepLines are the reference's step messages per body command:
// "Step: 'full_name'".
var stepLines = func() map[string]string {
	m := make(map[string]string, len(protocol.BodyCommands))
	for _, c := range protocol.BodyCommands {
		m[c] = "Step: " + Repr(strings.ToLower(c))
	}
	return m
}()

// Started: a session's TLS handshake is done (the reference logs the
// connection and then its handshake step).
func (s *ServerSteps) Started(ip netip.Addr) {
	s.l.LogRepr(Info, "Connection from address: ", ip.Unmap().String())
	s.l.Log(Info, "Step: handshake")
}

// Step: the state machine handled ev in state from, and sent sent
// (one line with its '\n', or nil). It allocates nothing.
func (s *ServerSteps) Step(m *statemachine.Machine, ev statemachine.Event, from statemachine.State, sent []byte) {
	if ev.Kind == statemachine.EventLine {
		switch from {
		case statemachine.StateBody:
			if m.Outcome() != statemachine.OutcomeBadChecksum {
				_, value, _ := bytes.Cut(ev.Line, []byte{' '})
				s.l.LogRepr(Info, "Received ", view(value))
			}
		case statemachine.StateDone:
			s.l.LogRepr(Info, "Received ", view(ev.Line))
		default:
			s.l.LogRepr(Debug, "Received ", view(ev.Line))
		}
	}
	if len(sent) == 0 {
		return
	}
	line := sent[:len(sent)-1]
	word, _, _ := bytes.Cut(line, []byte{' '})
	switch {
	case stepLines[string(word)] != "":
		s.l.Log(Info, stepLines[string(word)])
	case string(line) == protocol.Done:
		s.l.Log(Info, "Step: done")
	case m.Outcome() == statemachine.OutcomeInjectedFail:
		s.l.Log(Info, "Step: 'fail'")
	case string(word) == protocol.Fail:
		s.l.LogRepr(Info, "Sending to client: ", view(sent))
	default: // HELLO, WORK
		s.l.LogRepr(Debug, "Sending to client: ", view(sent))
	}
}

// view reads b as a string without copying it; the result must not
// outlive the call it is passed to (LogRepr copies what it writes).
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Ended: the session is over.
func (s *ServerSteps) Ended(*statemachine.Machine) { s.l.Log(Info, "Connection closed") }

// Starting is the server's first line.
func (s *ServerSteps) Starting() { s.l.Log(Info, "Server starting") }

// Listening says where the server listens, as the reference does:
// "Server listening on https://'localhost':1234".
func (s *ServerSteps) Listening(host string, port int) {
	s.l.Log(Info, "Server listening on https://"+Repr(host)+":"+strconv.Itoa(port))
}
