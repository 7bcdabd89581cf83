package tlsbridge

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Limits on what the key-log capture keeps while counting the server's
// post-handshake records (normally one session ticket).
const (
	maxCapturedRecords = 8
	maxCapturedBytes   = 16 << 10
)

// keyLog learns what the engine needs to run a TLS 1.3 session on its own
// record layer once crypto/tls is done: the traffic secrets, which
// crypto/tls hands out only as NSS key-log lines (keyLog is the
// connection's KeyLogWriter), and the sequence number of the server's next
// record, which it learns by keeping the protected records written after
// the secrets were logged and trial-decrypting them at the end.
type keyLog struct {
	clientSecret []byte
	serverSecret []byte
	afterSecret  [][]byte // protected records written once the server secret was known
	capturedLen  int
}

// Write receives one key-log line from crypto/tls.
func (k *keyLog) Write(line []byte) (int, error) {
	f := bytes.Fields(line)
	if len(f) != 3 {
		return len(line), nil
	}
	var dst *[]byte
	switch string(f[0]) {
	case "CLIENT_TRAFFIC_SECRET_0":
		dst = &k.clientSecret
	case "SERVER_TRAFFIC_SECRET_0":
		dst = &k.serverSecret
	default:
		return len(line), nil
	}
	s := make([]byte, hex.DecodedLen(len(f[2])))
	if _, err := hex.Decode(s, f[2]); err != nil {
		return 0, fmt.Errorf("key log secret: %w", err)
	}
	*dst = s
	return len(line), nil
}

// capture keeps copies of protected records written after the server's
// application traffic secret was logged. Some are still under handshake
// keys (the server Finished), the rest (session tickets) under application
// keys; trial decryption in recordLayer tells how many application records
// the server already sent.
func (k *keyLog) capture(b []byte) {
	if k.serverSecret == nil {
		return
	}
	for len(b) >= recordHeaderLen {
		n := recordHeaderLen + int(binary.BigEndian.Uint16(b[3:5]))
		if n > len(b) {
			return
		}
		if b[0] == recordTypeApplicationData && len(k.afterSecret) < maxCapturedRecords &&
			k.capturedLen+n <= maxCapturedBytes {
			k.afterSecret = append(k.afterSecret, bytes.Clone(b[:n]))
			k.capturedLen += n
		} else if b[0] == recordTypeApplicationData {
			k.capturedLen = maxCapturedBytes + 1 // overflowed: do not trust the count
		}
		b = b[n:]
	}
}

// recordLayer builds the TLS 1.3 record layer from the captured secrets,
// or reports false to keep tls.Conn (e.g. a suite it does not know).
func (k *keyLog) recordLayer(suiteID uint16) (*recordLayer, bool) {
	if k.clientSecret == nil || k.serverSecret == nil || k.capturedLen > maxCapturedBytes {
		return nil, false
	}
	s := suite13ByID(suiteID)
	if s == nil || len(k.clientSecret) != len(k.serverSecret) {
		return nil, false
	}
	// Trial-decrypt what the server already sent under its application
	// keys to learn the outbound sequence number; that same direction then
	// becomes the layer's outbound one, so each key schedule is built once.
	rl := &recordLayer{suite: s}
	if err := rl.in.setSecret(s, k.serverSecret); err != nil {
		return nil, false
	}
	for _, rec := range k.afterSecret {
		// rec is capture's own copy, so it may be decrypted in place.
		if !rl.authenticates(rec) && rl.in.seq > 0 {
			// Application-key records never precede handshake-key ones.
			return nil, false
		}
	}
	rl.out, rl.in = rl.in, direction{}
	if err := rl.in.setSecret(s, k.clientSecret); err != nil {
		return nil, false
	}
	return rl, true
}

// forget drops the secrets and captured records.
func (k *keyLog) forget() { *k = keyLog{} }
