package protocol

import "time"

// MaxLineLength is the longest line a peer may send, counting its '\n'
// (the reference's MAX_LINE_LENGTH): 1,000 characters plus '\n' is one
// byte too many and gets "FAIL receiving.".
const MaxLineLength = 1000

// Messages the server sends and the replies it expects.
const (
	Hello     = "HELLO"
	HelloBack = "HELLOBACK"
	Work      = "WORK"
	Done      = "DONE"
	OK        = "OK"
	Fail      = "FAIL"
)

// BodyCommands are the body requests, in the order tutorial mode sends them.
var BodyCommands = [...]string{
	"FULL_NAME", "EMAIL1", "EMAIL2", "SOCIAL",
	"BIRTHDATE", "COUNTRY", "ADDR_LINE1", "ADDR_LINE2",
}

// NumBodyCommands is len(BodyCommands), usable in constant expressions.
const NumBodyCommands = 8

// BodyRequests is how many body requests a normal-mode session draws.
const BodyRequests = 20

// FAIL lines of the reference server, byte for byte (without '\n').
const (
	FailInvalidSuffix   = "FAIL Invalid suffix returned from client."
	FailInvalidChecksum = "FAIL Invalid checksum received."
	FailReceiving       = "FAIL receiving."
)

// FAIL lines of our own, for checks and events the reference does not make.
const (
	FailExpectedHelloBack = "FAIL Invalid reply to HELLO: expected HELLOBACK."
	FailExpectedOK        = "FAIL Invalid reply to DONE: expected OK."
	FailHelloTimeout      = "FAIL Timed out waiting for HELLOBACK (--other-timeout)."
	FailWorkTimeout       = "FAIL Timed out waiting for the WORK suffix (--work-timeout)."
	FailBodyTimeout       = "FAIL Timed out waiting for a body reply (--other-timeout)."
	FailDoneTimeout       = "FAIL Timed out waiting for OK (--other-timeout)."
	FailShutdown          = "FAIL Server shutting down."
)

// Reference defaults (tlslp-server).
const (
	DefaultHost         = "localhost"
	DefaultPort         = 1234
	DefaultServerCert   = "certificates/server-cert.pem"
	DefaultServerKey    = "certificates/server-key.pem"
	DefaultCACert       = "certificates/ca_cert.pem"
	DefaultClientCert   = "certificates/client_cert.pem"
	DefaultClientKey    = "certificates/ec_private_key.pem"
	DefaultWorkTimeout  = 1800 * time.Second
	DefaultOtherTimeout = 10 * time.Second
	DefaultToken        = "gkcjcibIFynKssuJnJpSrgvawiVjLjEbdFuYQzuWROTeTaSmqFCAzuwkwLCRgIIq"
	DefaultRandomString = "LGTk"
	DefaultNBits        = 28
	DefaultLogLevel     = "INFO"
)

// MaxNBits is the largest difficulty a session may ask for.
const MaxNBits = 64

// TokenLength is the length of a generated per-session token.
const TokenLength = 64

// ClientPorts are the ports the reference client tries, in order.
var ClientPorts = [...]int{3115, 7883, 8235, 38154, 1234, 55532}

// IsFixedFail reports whether line is one of the server's fixed FAIL lines
// (as opposed to the injected "FAIL <random_string>").
func IsFixedFail(line string) bool {
	switch line {
	case FailInvalidSuffix, FailInvalidChecksum, FailReceiving,
		FailExpectedHelloBack, FailExpectedOK, FailHelloTimeout,
		FailWorkTimeout, FailBodyTimeout, FailDoneTimeout, FailShutdown:
		return true
	}
	return false
}
