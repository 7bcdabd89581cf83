package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"unsafe"
)

// Sentinel errors callers branch on.
var (
	// ErrIncomplete means buf holds the start of a header and more bytes
	// are needed; call Parse again once they arrive.
	ErrIncomplete = errors.New("proxy protocol: incomplete header")
	// ErrNoHeader means buf does not start with a PROXY header signature.
	ErrNoHeader = errors.New("proxy protocol: no header")
	// ErrMalformed is wrapped by every error about a header that starts
	// with a signature but breaks the format.
	ErrMalformed = errors.New("proxy protocol: malformed header")
)

// MaxHeaderLen bounds a header, TLVs included. Version 1 lines are at most
// 107 bytes; a version 2 header may announce up to 64 KiB, but load
// balancers send a few hundred bytes at most, and a peer must not make us
// buffer more.
const MaxHeaderLen = 4096

const maxV1Len = 107

var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

// Command says whether a header carries a client's addresses.
type Command uint8

const (
	// Local: the balancer's own connection (a health check, or v1's
	// UNKNOWN): serve it with the connection's own addresses.
	Local Command = iota
	// Proxy: Source and Destination are the client's connection.
	Proxy
)

// Header is one parsed PROXY header.
type Header struct {
	Version     int // 1 or 2
	Command     Command
	Source      netip.AddrPort // valid only when Command is Proxy
	Destination netip.AddrPort
}

// Detection is what the first bytes of a connection say.
type Detection uint8

const (
	// NotHeader: the bytes cannot start a PROXY header.
	NotHeader Detection = iota
	// MaybeHeader: the bytes so far are a prefix of a signature.
	MaybeHeader
	// IsHeader: the bytes start with a full signature.
	IsHeader
)

// Detect classifies buf's first bytes without parsing the rest; a TLS
// ClientHello (0x16) is NotHeader from its first byte.
func Detect(buf []byte) Detection {
	d := NotHeader
	for _, sig := range [2][]byte{sigV1, sigV2} {
		n := min(len(buf), len(sig))
		if !bytes.Equal(buf[:n], sig[:n]) {
			continue
		}
		if n == len(sig) {
			return IsHeader
		}
		d = MaybeHeader
	}
	return d
}

// Parse reads the header at the start of buf and returns it with its
// length in bytes. It returns ErrIncomplete when more bytes are needed,
// ErrNoHeader when buf starts with something else, and an error wrapping
// ErrMalformed for a broken header.
func Parse(buf []byte) (Header, int, error) {
	switch Detect(buf) {
	case NotHeader:
		return Header{}, 0, ErrNoHeader
	case MaybeHeader:
		return Header{}, 0, ErrIncomplete
	}
	if buf[0] == 'P' {
		return parseV1(buf)
	}
	return parseV2(buf)
}

// malformed errors are preallocated: a hostile peer sending broken headers
// in a loop must not cost an allocation each.
var (
	errV1TooLong    = malformedf("version 1 line has no CRLF within 107 bytes")
	errV1Protocol   = malformedf("version 1 protocol is not TCP4, TCP6 or UNKNOWN")
	errV1Fields     = malformedf("version 1 line does not have 4 space-separated fields")
	errV1Address    = malformedf("version 1 address is not an IP of the announced family")
	errV1Port       = malformedf("version 1 port is not a decimal number in 0..65535")
	errV2Version    = malformedf("version 2 header has a version other than 2")
	errV2Command    = malformedf("version 2 command is neither LOCAL nor PROXY")
	errV2Family     = malformedf("version 2 address family or transport is unknown or not a stream")
	errV2Short      = malformedf("version 2 address block is shorter than its family needs")
	errV2TooLong    = malformedf("header is longer than 4096 bytes")
	errV1BareCRorLF = malformedf("version 1 line holds a CR or LF before its end")
)

type malformedError string

func (e malformedError) Error() string { return "proxy protocol: malformed header: " + string(e) }
func (e malformedError) Unwrap() error { return ErrMalformed }

func malformedf(s string) error { return malformedError(s) }

func parseV1(buf []byte) (Header, int, error) {
	window := buf[:min(len(buf), maxV1Len)]
	end := bytes.IndexByte(window, '\n')
	if end < 0 {
		if bytes.IndexByte(window, '\r') >= 0 && bytes.IndexByte(window, '\r') < len(window)-1 {
			return Header{}, 0, errV1BareCRorLF
		}
		if len(buf) >= maxV1Len {
			return Header{}, 0, errV1TooLong
		}
		return Header{}, 0, ErrIncomplete
	}
	if end == 0 || window[end-1] != '\r' {
		return Header{}, 0, errV1BareCRorLF
	}
	line := window[len(sigV1) : end-1]
	if bytes.IndexByte(line, '\r') >= 0 {
		return Header{}, 0, errV1BareCRorLF
	}
	h := Header{Version: 1}
	proto, rest, _ := bytes.Cut(line, []byte{' '})
	switch string(proto) {
	case "UNKNOWN":
		// The receiver must ignore everything up to the CRLF.
		return h, end + 1, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, 0, errV1Protocol
	}
	var f [4][]byte
	for i := range f {
		var ok bool
		if f[i], rest, ok = bytes.Cut(rest, []byte{' '}); !ok && i < 3 {
			return Header{}, 0, errV1Fields
		}
		if len(f[i]) == 0 {
			return Header{}, 0, errV1Fields
		}
	}
	if len(rest) != 0 {
		return Header{}, 0, errV1Fields
	}
	want4 := proto[3] == '4'
	src, ok1 := parseV1Addr(f[0], want4)
	dst, ok2 := parseV1Addr(f[1], want4)
	if !ok1 || !ok2 {
		return Header{}, 0, errV1Address
	}
	sport, ok1 := parsePort(f[2])
	dport, ok2 := parsePort(f[3])
	if !ok1 || !ok2 {
		return Header{}, 0, errV1Port
	}
	h.Command = Proxy
	h.Source = netip.AddrPortFrom(src, sport)
	h.Destination = netip.AddrPortFrom(dst, dport)
	return h, end + 1, nil
}

func parseV1Addr(b []byte, want4 bool) (netip.Addr, bool) {
	if bytes.IndexByte(b, '%') >= 0 {
		return netip.Addr{}, false // zones have no meaning across hosts
	}
	if want4 {
		return parseIPv4(b)
	}
	for _, c := range b {
		if !(c == ':' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return netip.Addr{}, false // checked first: ParseAddr's errors allocate
		}
	}
	// ParseAddr keeps nothing of its argument once it has no zone, so the
	// bytes can be viewed as a string without a copy.
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(b), len(b)))
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

// parseIPv4 reads dotted-quad decimal without leading zeros, as
// netip.ParseAddr does, but without allocating on bad input.
func parseIPv4(b []byte) (netip.Addr, bool) {
	var out [4]byte
	for i := range out {
		if i > 0 {
			if len(b) == 0 || b[0] != '.' {
				return netip.Addr{}, false
			}
			b = b[1:]
		}
		n, digits := 0, 0
		for digits < len(b) && digits < 4 && '0' <= b[digits] && b[digits] <= '9' {
			n = n*10 + int(b[digits]-'0')
			digits++
		}
		if digits == 0 || digits > 3 || n > 255 || (digits > 1 && b[0] == '0') {
			return netip.Addr{}, false
		}
		out[i] = byte(n)
		b = b[digits:]
	}
	if len(b) != 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(out), true
}

func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

const v2Fixed = 16

func parseV2(buf []byte) (Header, int, error) {
	if len(buf) < v2Fixed {
		// Check what has arrived so a broken header fails early.
		if len(buf) > 12 && buf[12]>>4 != 2 {
			return Header{}, 0, errV2Version
		}
		return Header{}, 0, ErrIncomplete
	}
	verCmd, fam := buf[12], buf[13]
	if verCmd>>4 != 2 {
		return Header{}, 0, errV2Version
	}
	total := v2Fixed + int(binary.BigEndian.Uint16(buf[14:16]))
	if total > MaxHeaderLen {
		return Header{}, 0, errV2TooLong
	}
	h := Header{Version: 2}
	switch verCmd & 0xf {
	case 0:
		h.Command = Local
	case 1:
		h.Command = Proxy
	default:
		return Header{}, 0, errV2Command
	}
	var need int
	switch fam {
	case 0x00: // UNSPEC: no addresses
	case 0x11: // TCP over IPv4
		need = 12
	case 0x21: // TCP over IPv6
		need = 36
	case 0x31: // stream over a UNIX socket: no IP to use
		need = 216
	default:
		return Header{}, 0, errV2Family
	}
	if total-v2Fixed < need {
		return Header{}, 0, errV2Short
	}
	if len(buf) < total {
		return Header{}, 0, ErrIncomplete
	}
	if h.Command == Local || fam == 0x00 || fam == 0x31 {
		// LOCAL (health checks) and address-less headers: the
		// connection's own addresses stand. TLVs are skipped.
		h.Command = Local
		return h, total, nil
	}
	a := buf[v2Fixed:total]
	if fam == 0x11 {
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
	} else {
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])).Unmap(), binary.BigEndian.Uint16(a[32:34]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])).Unmap(), binary.BigEndian.Uint16(a[34:36]))
	}
	return h, total, nil
}

// AppendV1 appends a version 1 header for src and dst (tests and tools
// use it to speak as a balancer would).
func AppendV1(b []byte, src, dst netip.AddrPort) []byte {
	proto := "TCP6"
	if src.Addr().Is4() {
		proto = "TCP4"
	}
	b = append(b, "PROXY "...)
	b = append(b, proto...)
	b = append(b, ' ')
	b = src.Addr().AppendTo(b)
	b = append(b, ' ')
	b = dst.Addr().AppendTo(b)
	b = append(b, ' ')
	b = appendUint(b, src.Port())
	b = append(b, ' ')
	b = appendUint(b, dst.Port())
	return append(b, "\r\n"...)
}

// AppendV2 appends a version 2 PROXY header for src and dst over TCP.
func AppendV2(b []byte, src, dst netip.AddrPort) []byte {
	b = append(b, sigV2...)
	b = append(b, 0x21)
	if src.Addr().Is4() {
		b = append(b, 0x11, 0, 12)
		s, d := src.Addr().As4(), dst.Addr().As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	} else {
		b = append(b, 0x21, 0, 36)
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}

func appendUint(b []byte, v uint16) []byte {
	var tmp [5]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
