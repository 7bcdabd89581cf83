package statemachine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"tlslpd/pow"
	"tlslpd/protocol"
)

// State is where a session is. Body carries its request index separately
// (Machine.BodyIndex) so the state set stays small and explicit.
type State uint8

const (
	StateNew       State = iota // nothing sent yet
	StateHello                  // HELLO sent, waiting for HELLOBACK
	StateWork                   // WORK sent, waiting for the suffix
	StateBody                   // body request i sent, waiting for its reply
	StateDone                   // DONE sent, waiting for OK
	StateCompleted              // terminal: OK received
	StateFailed                 // terminal: anything else ended it
)

var stateNames = [...]string{"new", "hello", "work", "body", "done", "completed", "failed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Terminal reports whether no further event can change the session.
func (s State) Terminal() bool { return s == StateCompleted || s == StateFailed }

// Outcome says how a session ended.
type Outcome uint8

const (
	OutcomeNone           Outcome = iota // still running
	OutcomeCompleted                     // DONE answered with OK
	OutcomeInjectedFail                  // normal mode drew FAIL
	OutcomeBadHelloBack                  // reply to HELLO was not HELLOBACK
	OutcomeBadSuffix                     // PoW suffix too weak
	OutcomeBadChecksum                   // body checksum wrong
	OutcomeBadOK                         // reply to DONE was not OK
	OutcomeReceiveError                  // over-long line or invalid UTF-8
	OutcomeTimeout                       // a step deadline passed
	OutcomePeerClosed                    // the peer went away mid-session
	OutcomeTransportError                // TLS or socket error mid-session
	OutcomeShutdown                      // the server is shutting down
	numOutcomes
)

var outcomeNames = [...]string{
	"none", "completed", "injected_fail", "bad_helloback", "bad_suffix",
	"bad_checksum", "bad_ok", "receive_error", "timeout", "peer_closed",
	"transport_error", "shutdown",
}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Outcomes lists every outcome a finished session can have, for metrics.
func Outcomes() []Outcome {
	out := make([]Outcome, 0, numOutcomes-1)
	for o := OutcomeCompleted; o < numOutcomes; o++ {
		out = append(out, o)
	}
	return out
}

// Deadline names which deadline the owner must arm.
type Deadline uint8

const (
	DeadlineNone  Deadline = iota // cancel any deadline
	DeadlineShort                 // --other-timeout
	DeadlineWork                  // --work-timeout
)

// EventKind is what happened to a session.
type EventKind uint8

const (
	EventStart          EventKind = iota // the transport is ready: speak first
	EventLine                            // a complete line arrived (Event.Line)
	EventDeadline                        // the armed deadline passed
	EventReceiveError                    // framing failed (too long, bad UTF-8)
	EventPeerClosed                      // the peer closed or reset
	EventTransportError                  // TLS/socket failure; nothing can be sent
	EventShutdown                        // the server is stopping
)

// Event is one input to a Machine.
type Event struct {
	Kind EventKind
	Line []byte // for EventLine: the line without '\n'; only read during Handle
}

// Action is what the owner must do, in this order: send Send (if any),
// arm Deadline (replacing any other), and if Close, flush and close and
// record Outcome.
type Action struct {
	Send     []byte // one line including '\n', appended to the caller's dst
	Deadline Deadline
	Close    bool
	Outcome  Outcome // set when Close ends the session
}

// Rand is the random source for body draws (math/rand/v2's *Rand fits).
type Rand interface {
	IntN(n int) int
}

// Reply is one body answer the client gave.
type Reply struct {
	Command string `json:"command"`
	Value   string `json:"value"`
}

// Machine is one session's protocol state. It is not safe for concurrent
// use; its owner (the connection's event loop) drives it.
type Machine struct {
	cfg      *Config
	rng      Rand
	token    string
	cksum    [sha256.Size]byte // raw, not hex: every open session holds it for its whole life
	state    State
	outcome  Outcome
	body     uint8 // index of the body request in flight
	command  uint8 // index into protocol.BodyCommands of that request
	replies  []Reply
	failLine string
}

// New makes a session for token (see Config.SessionToken). cfg must have
// passed Validate and must outlive the machine.
func New(cfg *Config, rng Rand, token string) *Machine {
	m := &Machine{cfg: cfg, rng: rng, token: token}
	m.cksum = sha256.Sum256([]byte(token + cfg.RandomString))
	return m
}

// State, Outcome and the accessors below feed logs and session records.
func (m *Machine) State() State     { return m.state }
func (m *Machine) Outcome() Outcome { return m.outcome }
func (m *Machine) Token() string    { return m.token }
func (m *Machine) Replies() []Reply { return m.replies }
func (m *Machine) FailLine() string { return m.failLine }
func (m *Machine) BodyIndex() int   { return int(m.body) }
func (m *Machine) Tutorial() bool   { return m.cfg.Tutorial }

func (m *Machine) numRequests() int {
	if m.cfg.Tutorial {
		return protocol.NumBodyCommands
	}
	return protocol.BodyRequests
}

// Handle applies ev and returns what to do. Lines to send are appended to
// dst (a scratch buffer the owner reuses), so a session holds no send
// buffer of its own. Events after a terminal state are ignored (zero Action).
func (m *Machine) Handle(ev Event, dst []byte) Action {
	if m.state.Terminal() {
		return Action{}
	}
	switch ev.Kind {
	case EventStart:
		if m.state != StateNew {
			return Action{} // a second start changes nothing
		}
		m.state = StateHello
		return Action{Send: appendLine(dst, protocol.Hello), Deadline: DeadlineShort}
	case EventLine:
		return m.onLine(ev.Line, dst)
	case EventDeadline:
		return m.onDeadline(dst)
	case EventReceiveError:
		return m.fail(dst, OutcomeReceiveError, protocol.FailReceiving)
	case EventPeerClosed:
		return m.end(OutcomePeerClosed)
	case EventTransportError:
		return m.end(OutcomeTransportError)
	case EventShutdown:
		return m.fail(dst, OutcomeShutdown, protocol.FailShutdown)
	}
	return Action{}
}

func (m *Machine) onLine(line, dst []byte) Action {
	switch m.state {
	case StateNew:
		// The server speaks first; a client that talks before HELLO is
		// answering nothing.
		return m.fail(dst, OutcomeBadHelloBack, protocol.FailExpectedHelloBack)
	case StateHello:
		if string(line) != protocol.HelloBack {
			return m.fail(dst, OutcomeBadHelloBack, protocol.FailExpectedHelloBack)
		}
		m.state = StateWork
		dst = append(dst, protocol.Work...)
		dst = append(dst, ' ')
		dst = append(dst, m.token...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(m.cfg.NBits), 10)
		dst = append(dst, '\n')
		return Action{Send: dst, Deadline: DeadlineWork}
	case StateWork:
		// The digest is made for the one check it serves, not when WORK
		// is sent: a session waiting at WORK (a parked one) would hold it
		// for as long as the client computes (about 300 bytes).
		if !pow.NewVerifier(m.token).Check(line, m.cfg.NBits) {
			return m.fail(dst, OutcomeBadSuffix, protocol.FailInvalidSuffix)
		}
		m.replies = make([]Reply, 0, m.numRequests())
		m.body = 0
		return m.nextRequest(dst)
	case StateBody:
		cksum, value, _ := bytes.Cut(line, []byte{' '})
		var want [sha256.Size * 2]byte // the lowercase hex the reference compares against
		hex.Encode(want[:], m.cksum[:])
		if !bytes.Equal(cksum, want[:]) {
			return m.fail(dst, OutcomeBadChecksum, protocol.FailInvalidChecksum)
		}
		m.replies = append(m.replies, Reply{
			Command: protocol.BodyCommands[m.command],
			Value:   string(value),
		})
		m.body++
		return m.nextRequest(dst)
	case StateDone:
		if string(line) != protocol.OK {
			return m.fail(dst, OutcomeBadOK, protocol.FailExpectedOK)
		}
		m.state = StateCompleted
		m.outcome = OutcomeCompleted
		return Action{Close: true, Outcome: OutcomeCompleted}
	}
	return Action{}
}

// nextRequest sends body request m.body, or DONE after the last one.
func (m *Machine) nextRequest(dst []byte) Action {
	if int(m.body) >= m.numRequests() {
		m.state = StateDone
		return Action{Send: appendLine(dst, protocol.Done), Deadline: DeadlineShort}
	}
	m.state = StateBody
	if m.cfg.Tutorial {
		m.command = m.body
	} else {
		draw := m.rng.IntN(protocol.NumBodyCommands + 1)
		if draw == protocol.NumBodyCommands {
			// The injected failure is part of the protocol, not an error:
			// FAIL <random_string>, then the session ends without DONE.
			m.state = StateFailed
			m.outcome = OutcomeInjectedFail
			m.failLine = protocol.Fail + " " + m.cfg.RandomString
			dst = append(dst, m.failLine...)
			dst = append(dst, '\n')
			return Action{Send: dst, Close: true, Outcome: OutcomeInjectedFail}
		}
		m.command = uint8(draw)
	}
	dst = append(dst, protocol.BodyCommands[m.command]...)
	dst = append(dst, ' ')
	dst = append(dst, m.cfg.RandomString...)
	dst = append(dst, '\n')
	return Action{Send: dst, Deadline: DeadlineShort}
}

func (m *Machine) onDeadline(dst []byte) Action {
	switch m.state {
	case StateNew:
		// Never started: the transport never became ready, nothing to say.
		return m.end(OutcomeTimeout)
	case StateHello:
		return m.fail(dst, OutcomeTimeout, protocol.FailHelloTimeout)
	case StateWork:
		return m.fail(dst, OutcomeTimeout, protocol.FailWorkTimeout)
	case StateBody:
		return m.fail(dst, OutcomeTimeout, protocol.FailBodyTimeout)
	default: // StateDone
		return m.fail(dst, OutcomeTimeout, protocol.FailDoneTimeout)
	}
}

// fail ends the session with a FAIL line.
func (m *Machine) fail(dst []byte, o Outcome, line string) Action {
	m.failLine = line
	a := m.end(o)
	a.Send = appendLine(dst, line)
	return a
}

// end ends the session without sending anything.
func (m *Machine) end(o Outcome) Action {
	m.state = StateFailed
	m.outcome = o
	return Action{Close: true, Outcome: o}
}

func appendLine(dst []byte, s string) []byte {
	dst = append(dst, s...)
	return append(dst, '\n')
}
