package loadgen

import (
	"regexp"
	"strings"
)

var (
	// An address with a port, IPv4 or bracketed IPv6: "127.0.0.1:5501",
	// "[::1]:1234". Source ports differ on every connection.
	addrPort = regexp.MustCompile(`(\[[0-9a-fA-F:.]+\]|\d{1,3}(\.\d{1,3}){3}):\d+`)
	// Go's net errors name both ends: "read tcp A->B: " or "dial tcp A: ".
	opPrefix = regexp.MustCompile(`^(read|write|dial|remote error|local error) (tcp|tcp4|tcp6) \S+: `)
)

// normalizeError turns an error message into the form errors are counted
// by: no addresses or ports (every connection has its own), no doubled
// prefixes ("tls: tls: ..." where crypto/tls wraps its own error), one
// line.
func normalizeError(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	msg = opPrefix.ReplaceAllString(msg, "$1 $2: ")
	msg = addrPort.ReplaceAllString(msg, "ADDR")
	for {
		i := strings.Index(msg, ": ")
		if i <= 0 {
			break
		}
		head := msg[:i+2]
		if !strings.HasPrefix(msg[i+2:], head) {
			break
		}
		msg = msg[i+2:]
	}
	// Collapse a doubled prefix anywhere ("remote error: tls: tls: bad").
	for _, p := range []string{"tls: tls: ", "remote error: remote error: "} {
		for strings.Contains(msg, p) {
			msg = strings.Replace(msg, p, p[:len(p)/2], 1)
		}
	}
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}
