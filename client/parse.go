package client

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"tlslpd/protocol"
)

// Kind is the kind of a server request line.
type Kind uint8

// Request kinds, one per message the server may send.
const (
	KindHello Kind = iota + 1
	KindWork
	KindBody
	KindDone
	KindFail
)

func (k Kind) String() string {
	switch k {
	case KindHello:
		return "HELLO"
	case KindWork:
		return "WORK"
	case KindBody:
		return "BODY"
	case KindDone:
		return "DONE"
	case KindFail:
		return "FAIL"
	}
	return "UNKNOWN"
}

// ErrBadRequest is wrapped by ParseRequest for lines that are not a valid
// server request.
var ErrBadRequest = errors.New("malformed server request")

// Request is one parsed server line.
type Request struct {
	Kind Kind
	// Command is the body command (KindBody only).
	Command string
	// Token and NBits are the WORK arguments (KindWork only).
	Token string
	NBits int
	// Arg is the body request's random string (KindBody) or everything after
	// "FAIL " (KindFail).
	Arg string
	// Line is the line as received, without '\n'.
	Line string
}

// ParseRequest parses one server line (without its '\n'). It is strict about
// the message words because a lenient client would hide server bugs, but it
// accepts any random string, including one containing spaces or an empty
// one, since the spec does not constrain it.
func ParseRequest(line string) (Request, error) {
	r := Request{Line: line}
	if len(line) >= protocol.MaxLineLength {
		return r, fmt.Errorf("%w: line of %d bytes and its newline exceeds %d", ErrBadRequest, len(line), protocol.MaxLineLength)
	}
	word, rest, hasArg := strings.Cut(line, " ")
	switch word {
	case protocol.Hello:
		if hasArg {
			return r, fmt.Errorf("%w: HELLO takes no argument: %q", ErrBadRequest, line)
		}
		r.Kind = KindHello
		return r, nil
	case protocol.Done:
		if hasArg {
			return r, fmt.Errorf("%w: DONE takes no argument: %q", ErrBadRequest, line)
		}
		r.Kind = KindDone
		return r, nil
	case protocol.Fail:
		// A bare "FAIL" is accepted too: the server is ending the session
		// either way, and the line is what the user needs to see.
		r.Kind = KindFail
		r.Arg = rest
		return r, nil
	case protocol.Work:
		token, bits, ok := strings.Cut(rest, " ")
		if !hasArg || !ok || token == "" || strings.Contains(bits, " ") {
			return r, fmt.Errorf("%w: want \"WORK <token> <n_bits>\": %q", ErrBadRequest, line)
		}
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || n > protocol.MaxNBits || bits != strconv.Itoa(n) {
			return r, fmt.Errorf("%w: n_bits %q is not an integer in 0..%d", ErrBadRequest, bits, protocol.MaxNBits)
		}
		r.Kind, r.Token, r.NBits = KindWork, token, n
		return r, nil
	}
	for _, cmd := range protocol.BodyCommands {
		if word == cmd {
			if !hasArg {
				return r, fmt.Errorf("%w: %s without a random string: %q", ErrBadRequest, cmd, line)
			}
			r.Kind, r.Command, r.Arg = KindBody, cmd, rest
			return r, nil
		}
	}
	return r, fmt.Errorf("%w: unknown command in %q", ErrBadRequest, line)
}
