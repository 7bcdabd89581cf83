package tlsbridge

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// TLS record constants (RFC 8446 section 5).
const (
	recordHeaderLen = 5
	maxPlaintext    = 1 << 14
	maxCiphertext13 = maxPlaintext + 256

	recordTypeChangeCipherSpec = 20
	recordTypeAlert            = 21
	recordTypeHandshake        = 22
	recordTypeApplicationData  = 23

	handshakeTypeKeyUpdate = 24

	alertLevelWarning = 1
	alertLevelFatal   = 2

	alertCloseNotify       = 0
	alertUnexpectedMessage = 10
	alertBadRecordMAC      = 20
	alertRecordOverflow    = 22
	alertDecodeError       = 50
	alertInternalError     = 80
	alertUserCanceled      = 90

	aeadNonceLen = 12
	aeadTagLen   = 16
)

// suite13 is what the record layer needs from a TLS 1.3 cipher suite.
type suite13 struct {
	id     uint16
	hash   func() hash.Hash
	keyLen int
	aead   func(key []byte) (cipher.AEAD, error)
}

func newAESGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// suites13 is immutable after init; it is a lookup table, not state.
var suites13 = [...]suite13{
	{tls.TLS_AES_128_GCM_SHA256, sha256.New, 16, newAESGCM},
	{tls.TLS_AES_256_GCM_SHA384, sha512.New384, 32, newAESGCM},
	{tls.TLS_CHACHA20_POLY1305_SHA256, sha256.New, chacha20poly1305.KeySize, chacha20poly1305.New},
}

func suite13ByID(id uint16) *suite13 {
	for i := range suites13 {
		if suites13[i].id == id {
			return &suites13[i]
		}
	}
	return nil
}

// expandLabel is HKDF-Expand-Label from RFC 8446 section 7.1.
func expandLabel(h func() hash.Hash, secret []byte, label string, context []byte, length int) ([]byte, error) {
	var buf [64]byte
	info := buf[:0]
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len("tls13 ")+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	out, err := hkdf.Expand(h, secret, string(info), length)
	if err != nil {
		return nil, fmt.Errorf("hkdf expand %q: %w", label, err)
	}
	return out, nil
}

// direction is one half of the record layer: a traffic secret, the AEAD
// derived from it, and the record sequence number.
type direction struct {
	aead   cipher.AEAD // nil while parked; rebuilt from key on use
	key    []byte
	iv     [aeadNonceLen]byte
	seq    uint64
	secret []byte // kept only to derive the next secret on KeyUpdate
	// scratch holds the per-record nonce; a local array would escape
	// through the cipher.AEAD interface and cost an allocation per record.
	scratch [aeadNonceLen]byte
}

func (d *direction) setSecret(s *suite13, secret []byte) error {
	key, err := expandLabel(s.hash, secret, "key", nil, s.keyLen)
	if err != nil {
		return err
	}
	iv, err := expandLabel(s.hash, secret, "iv", nil, aeadNonceLen)
	if err != nil {
		return err
	}
	a, err := s.aead(key)
	if err != nil {
		return fmt.Errorf("aead for suite %#04x: %w", s.id, err)
	}
	d.aead = a
	d.key = key
	copy(d.iv[:], iv)
	d.seq = 0
	d.secret = secret
	return nil
}

// update moves to the next traffic secret (RFC 8446 section 7.2).
func (d *direction) update(s *suite13) error {
	next, err := expandLabel(s.hash, d.secret, "traffic upd", nil, len(d.secret))
	if err != nil {
		return err
	}
	return d.setSecret(s, next)
}

// ready rebuilds the AEAD after park. The key was accepted once, so an
// error here is an internal one.
func (d *direction) ready(s *suite13) error {
	if d.aead != nil {
		return nil
	}
	a, err := s.aead(d.key)
	if err != nil {
		return fmt.Errorf("rebuild aead: %w", err)
	}
	d.aead = a
	return nil
}

func (d *direction) nonce() []byte {
	d.scratch = d.iv
	for i := 0; i < 8; i++ {
		d.scratch[aeadNonceLen-8+i] ^= byte(d.seq >> (56 - 8*i))
	}
	return d.scratch[:]
}

// recordError is a record-layer failure: the alert to send and the error.
type recordError struct {
	alert uint8
	err   error
}

func (e *recordError) Error() string { return e.err.Error() }
func (e *recordError) Unwrap() error { return e.err }

func badRecord(alert uint8, format string, args ...any) *recordError {
	return &recordError{alert: alert, err: fmt.Errorf("%w: "+format, append([]any{ErrBadRecord}, args...)...)}
}

// recordLayer is a minimal TLS 1.3 record layer used after crypto/tls has
// finished the handshake, so an idle session keeps two AEADs and a few
// secrets instead of a whole tls.Conn.
type recordLayer struct {
	suite   *suite13
	in, out direction
	// hs holds a partial post-handshake message (only KeyUpdate, 5 bytes,
	// is accepted, so a tiny fixed buffer suffices).
	hs    [4 + 1]byte
	hsLen uint8
}

// park drops both AEAD states (for AES-GCM the key schedule and GHASH
// tables, most of an idle session's memory); they are rebuilt from the
// keys on next use.
func (rl *recordLayer) park() {
	rl.in.aead, rl.out.aead = nil, nil
}

// unpark rebuilds the AEAD states dropped by park. seal and open require
// it; the engine calls it at every entry point that uses the layer.
func (rl *recordLayer) unpark() error {
	if err := rl.in.ready(rl.suite); err != nil {
		return err
	}
	return rl.out.ready(rl.suite)
}

// seal appends one protected record carrying payload (≤ maxPlaintext) of
// inner type typ to dst. It encrypts in place inside dst, so a dst with
// enough capacity costs no allocation.
func (rl *recordLayer) seal(dst []byte, typ byte, payload []byte) []byte {
	start := len(dst)
	n := len(payload) + 1 + aeadTagLen
	// Room for the tag up front, so Seal works in place and never
	// reallocates behind our back.
	dst = slices.Grow(dst, recordHeaderLen+n)
	dst = append(dst, recordTypeApplicationData, 0x03, 0x03, byte(n>>8), byte(n))
	dst = append(dst, payload...)
	dst = append(dst, typ)
	hdr := dst[start : start+recordHeaderLen]
	body := dst[start+recordHeaderLen:]
	rl.out.aead.Seal(body[:0], rl.out.nonce(), body, hdr)
	rl.out.seq++
	return dst[:start+recordHeaderLen+n]
}

// sealData appends records carrying p, split at maxPlaintext.
func (rl *recordLayer) sealData(dst, p []byte) []byte {
	for len(p) > 0 {
		m := min(len(p), maxPlaintext)
		dst = rl.seal(dst, recordTypeApplicationData, p[:m])
		p = p[m:]
	}
	return dst
}

// sealAlert appends an alert record.
func (rl *recordLayer) sealAlert(dst []byte, alert uint8) []byte {
	level := byte(alertLevelFatal)
	if alert == alertCloseNotify || alert == alertUserCanceled {
		level = alertLevelWarning
	}
	return rl.seal(dst, recordTypeAlert, []byte{level, alert})
}

// parseHeader checks a record header. It returns the record's total length
// (header included), or 0 when fewer than recordHeaderLen bytes are
// available.
func parseHeader13(b []byte) (int, *recordError) {
	if len(b) < recordHeaderLen {
		return 0, nil
	}
	if b[0] != recordTypeApplicationData {
		// Post-handshake TLS 1.3 only has protected records; a plaintext
		// alert, handshake or change_cipher_spec here is a protocol error.
		return 0, badRecord(alertUnexpectedMessage, "unexpected outer record type %d", b[0])
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	if n > maxCiphertext13 {
		return 0, badRecord(alertRecordOverflow, "record of %d bytes exceeds %d", n, maxCiphertext13)
	}
	if n < aeadTagLen+1 {
		return 0, badRecord(alertDecodeError, "record of %d bytes is too short", n)
	}
	return recordHeaderLen + n, nil
}

// open decrypts the complete record rec (header included) in place and
// returns its inner content type and plaintext, which aliases rec. The
// caller must treat rec as consumed whatever the outcome, so a record is
// never decrypted twice.
func (rl *recordLayer) open(rec []byte) (byte, []byte, *recordError) {
	hdr := rec[:recordHeaderLen]
	body := rec[recordHeaderLen:]
	pt, err := rl.in.aead.Open(body[:0], rl.in.nonce(), body, hdr)
	if err != nil {
		return 0, nil, badRecord(alertBadRecordMAC, "record %d does not authenticate", rl.in.seq)
	}
	rl.in.seq++
	// Strip zero padding; the last non-zero byte is the content type.
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, badRecord(alertUnexpectedMessage, "record has no content type")
	}
	if i > maxPlaintext {
		return 0, nil, badRecord(alertRecordOverflow, "plaintext of %d bytes exceeds %d", i, maxPlaintext)
	}
	return pt[i], pt[:i], nil
}

// authenticates reports whether rec decrypts under the inbound keys (in
// place), counting it if it does. Unlike open it builds no error: the
// handshake's trial decryption expects one failure per session.
func (rl *recordLayer) authenticates(rec []byte) bool {
	body := rec[recordHeaderLen:]
	if _, err := rl.in.aead.Open(body[:0], rl.in.nonce(), body, rec[:recordHeaderLen]); err != nil {
		return false
	}
	rl.in.seq++
	return true
}

// handlePostHandshake processes handshake-type plaintext. It returns the
// bytes to send in reply (appended to out), and whether a KeyUpdate
// completed.
func (rl *recordLayer) handlePostHandshake(out, data []byte) ([]byte, bool, *recordError) {
	if len(data) == 0 {
		return out, false, badRecord(alertUnexpectedMessage, "empty handshake record")
	}
	for len(data) > 0 {
		n := copy(rl.hs[rl.hsLen:], data)
		data = data[n:]
		rl.hsLen += uint8(n)
		if rl.hsLen >= 4 {
			if rl.hs[0] != handshakeTypeKeyUpdate {
				return out, false, badRecord(alertUnexpectedMessage, "unexpected post-handshake message type %d", rl.hs[0])
			}
			if rl.hs[1] != 0 || rl.hs[2] != 0 || rl.hs[3] != 1 {
				return out, false, badRecord(alertDecodeError, "malformed KeyUpdate length")
			}
		}
		if int(rl.hsLen) < len(rl.hs) {
			if len(data) > 0 {
				return out, false, badRecord(alertDecodeError, "handshake message overflow")
			}
			return out, false, nil // wait for the rest in a later record
		}
		// A complete KeyUpdate changes keys, so it must end its record
		// (RFC 8446 section 5.1).
		if len(data) > 0 {
			return out, false, badRecord(alertUnexpectedMessage, "data after KeyUpdate in the same record")
		}
		req := rl.hs[4]
		rl.hsLen = 0
		if req > 1 {
			return out, false, badRecord(alertDecodeError, "bad KeyUpdate request value %d", req)
		}
		if err := rl.in.update(rl.suite); err != nil {
			return out, false, &recordError{alert: alertInternalError, err: fmt.Errorf("%w: key update: %w", ErrBadRecord, err)}
		}
		if req == 1 {
			// Answer under the old keys, then switch ours too.
			out = rl.seal(out, recordTypeHandshake, []byte{handshakeTypeKeyUpdate, 0, 0, 1, 0})
			if err := rl.out.update(rl.suite); err != nil {
				return out, false, &recordError{alert: alertInternalError, err: fmt.Errorf("%w: key update: %w", ErrBadRecord, err)}
			}
		}
	}
	return out, true, nil // a record ends with a complete KeyUpdate or none
}
