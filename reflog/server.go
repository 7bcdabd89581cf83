package reflog

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"

	"tlslpd/protocol"
	"tlslpd/statemachine"
)

// ServerSteps turns a session's steps into the reference server's lines.
// Its methods run on the session's event loop; each costs a line's
// formatting and a copy into the (batching) writers.
type ServerSteps struct{ l *Logger }

// NewServerSteps logs through l.
func NewServerSteps(l *Logger) *ServerSteps { return &ServerSteps{l: l} }

// lowerCommands are the body commands as the reference names its steps.
var lowerCommands = func() map[string]string {
	m := make(map[string]string, len(protocol.BodyCommands))
	for _, c := range protocol.BodyCommands {
		m[c] = Repr(strings.ToLower(c))
	}
	return m
}()

// Started: a session's TLS handshake is done (the reference logs the
// connection and then its handshake step).
func (s *ServerSteps) Started(ip netip.Addr) {
	s.l.Log(Info, "Connection from address: "+Repr(ip.Unmap().String()))
	s.l.Log(Info, "Step: handshake")
}

// Step: the state machine handled ev in state from, and sent sent
// (one line with its '\n', or nil).
func (s *ServerSteps) Step(m *statemachine.Machine, ev statemachine.Event, from statemachine.State, sent []byte) {
	if ev.Kind == statemachine.EventLine {
		switch from {
		case statemachine.StateBody:
			if m.Outcome() != statemachine.OutcomeBadChecksum {
				_, value, _ := bytes.Cut(ev.Line, []byte{' '})
				s.l.Log(Info, "Received "+Repr(string(value)))
			}
		case statemachine.StateDone:
			s.l.Log(Info, "Received "+Repr(string(ev.Line)))
		default:
			if s.l.Enabled(Debug) {
				s.l.Log(Debug, "Received "+Repr(string(ev.Line)))
			}
		}
	}
	if len(sent) == 0 {
		return
	}
	line := string(sent[:len(sent)-1])
	word, _, _ := strings.Cut(line, " ")
	switch {
	case lowerCommands[word] != "":
		s.l.Log(Info, "Step: "+lowerCommands[word])
	case line == protocol.Done:
		s.l.Log(Info, "Step: done")
	case m.Outcome() == statemachine.OutcomeInjectedFail:
		s.l.Log(Info, "Step: 'fail'")
	case word == protocol.Fail:
		s.l.Log(Info, "Sending to client: "+Repr(string(sent)))
	default: // HELLO, WORK
		if s.l.Enabled(Debug) {
			s.l.Log(Debug, "Sending to client: "+Repr(string(sent)))
		}
	}
}

// Ended: the session is over.
func (s *ServerSteps) Ended(*statemachine.Machine) { s.l.Log(Info, "Connection closed") }

// Starting is the server's first line.
func (s *ServerSteps) Starting() { s.l.Log(Info, "Server starting") }

// Listening says where the server listens, as the reference does:
// "Server listening on https://'localhost':1234".
func (s *ServerSteps) Listening(host string, port int) {
	s.l.Log(Info, "Server listening on https://"+Repr(host)+":"+strconv.Itoa(port))
}
