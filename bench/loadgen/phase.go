package loadgen

// phase is a step of a session, in the order a session goes through them.
// Each completed phase's duration is recorded in its own histogram, so a
// user sees where the time goes.
type phase uint8

const (
	phConnect phase = iota // TCP connect
	phTLS                  // TLS handshake
	phHello                // handshake done -> WORK received (HELLO, HELLOBACK, WORK)
	phSolve                // solving WORK on this machine
	phVerify               // suffix sent -> the server's next line (its verification round trip)
	phBody                 // first body request -> DONE received
	phDone                 // DONE received -> OK written
	numPhases
)

// phaseNames are the stable names used in JSON, --out tags and thresholds.
var phaseNames = [numPhases]string{"connect", "tls", "hello", "solve", "verify", "body", "done"}

// phaseTitles are what people read in the summary and the report.
var phaseTitles = [numPhases]string{
	"TCP connect", "TLS handshake", "HELLO (until WORK arrives)", "WORK solve (this client)",
	"WORK verify (server round trip)", "body (requests and replies)", "DONE (until OK is sent)",
}

func phaseIndex(name string) int {
	for i, n := range phaseNames {
		if n == name {
			return i
		}
	}
	return -1
}
