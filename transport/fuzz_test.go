package transport

import (
	"net/netip"
	"testing"

	"tlslpd/tlsbridge"
)

const fuzzUpgrade = "GET /tlslp HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// FuzzWSEngine drives a WebSocket engine over plain TCP as its owner does
// (Feed, drain Read, Write a reply, flush) with arbitrary client bytes,
// after a valid opening handshake or none: it must never panic, never
// hand out more line bytes than the client sent plus one newline per
// message (at most one per byte), and be over after Close.
func FuzzWSEngine(f *testing.F) {
	f.Add(true, []byte{0x81, 0x83, 1, 2, 3, 4, 'H' ^ 1, 'I' ^ 2, '\n' ^ 3}, 4)
	f.Add(true, []byte{0x01, 0x81, 0, 0, 0, 0, 'a', 0x89, 0x80, 0, 0, 0, 0, 0x80, 0x81, 0, 0, 0, 0, 'b'}, 9)
	f.Add(false, []byte(fuzzUpgrade), 30)
	f.Add(false, []byte("GET / HTTP/1.1\r\n\r\n"), 5)
	f.Add(true, []byte{0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}, 1)
	f.Fuzz(func(t *testing.T, upgraded bool, data []byte, cut int) {
		wf := &WSFactory{Inner: PlainFactory{}, Name: WS, Page: []byte("<p>page</p>")}
		e := wf.NewEngine(netip.Addr{}, func() {})
		defer e.Release()
		if upgraded {
			_ = e.Feed([]byte(fuzzUpgrade))
		}
		if cut < 0 || cut > len(data) {
			cut = len(data) / 2
		}
		var line [2048]byte
		read := 0
		for _, chunk := range [][]byte{data[:cut], data[cut:]} {
			_ = e.Feed(chunk)
			if e.State() == tlsbridge.Established {
				for {
					n, err := e.Read(line[:])
					if n == 0 || err != nil {
						break
					}
					read += n
				}
				_ = e.Write([]byte("FAIL x\n"))
			}
			_ = e.AppendOutgoing(nil)
		}
		if read > 2*len(data) {
			t.Fatalf("%d line bytes from %d client bytes", read, len(data))
		}
		e.Close()
		_ = e.AppendOutgoing(nil)
		if e.State() == tlsbridge.Established || e.State() == tlsbridge.Handshaking {
			t.Fatalf("state %v after Close", e.State())
		}
	})
}
