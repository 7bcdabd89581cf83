package adversary

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
)

// The TLS 1.2 floods use one cipher suite, which the test server's ECDSA
// certificate always offers, so one record format suffices: AES-128-GCM
// with an explicit 8-byte nonce (RFC 5288).
const suite12 = tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256

// masterLog captures the TLS 1.2 master secret (CLIENT_RANDOM line).
type masterLog struct {
	mu     sync.Mutex
	secret []byte
}

func (m *masterLog) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(p), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "CLIENT_RANDOM" {
			s, err := hex.DecodeString(f[2])
			if err != nil {
				return 0, fmt.Errorf("key log: %w", err)
			}
			m.mu.Lock()
			m.secret = s
			m.mu.Unlock()
		}
	}
	return len(p), nil
}

// helloSniffer keeps the randoms of ClientHello (written) and ServerHello
// (read), which TLS 1.2's key expansion needs and crypto/tls does not
// hand out.
type helloSniffer struct {
	net.Conn
	out, in []byte // the first bytes written and read
}

func (h *helloSniffer) Write(b []byte) (int, error) {
	if len(h.out) < 64 {
		h.out = append(h.out, b[:min(len(b), 64)]...)
	}
	return h.Conn.Write(b)
}

func (h *helloSniffer) Read(b []byte) (int, error) {
	n, err := h.Conn.Read(b)
	if len(h.in) < 64 {
		h.in = append(h.in, b[:min(n, 64-len(h.in))]...)
	}
	return n, err
}

// helloRandom is the random of the hello message at the start of a
// handshake record: header (5), handshake header (4), version (2), random.
func helloRandom(rec []byte) ([]byte, error) {
	if len(rec) < 5+4+2+32 || rec[0] != recordTypeHandshake {
		return nil, errors.New("adversary: no hello at the start of the stream")
	}
	return rec[11 : 11+32], nil
}

// prf12 is the TLS 1.2 PRF with SHA-256 (RFC 5246 section 5).
func prf12(secret []byte, label string, seed []byte, n int) []byte {
	ls := append([]byte(label), seed...)
	mac := func(data ...[]byte) []byte {
		h := hmac.New(sha256.New, secret)
		for _, d := range data {
			h.Write(d)
		}
		return h.Sum(nil)
	}
	var out []byte
	a := mac(ls)
	for len(out) < n {
		out = append(out, mac(a, ls)...)
		a = mac(a)
	}
	return out[:n]
}

// sealer12 is the client's sending half of a TLS 1.2 AES-GCM record
// layer. The client's Finished went out as record 0 under these keys, so
// application records start at sequence 1.
type sealer12 struct {
	aead cipher.AEAD
	salt [4]byte
	seq  uint64
}

func newSealer12(master, clientRandom, serverRandom []byte) (*sealer12, error) {
	// key_block: client key (16), server key (16), client IV (4), server IV (4).
	kb := prf12(master, "key expansion", slices.Concat(serverRandom, clientRandom), 16+16+4+4)
	block, err := aes.NewCipher(kb[:16])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	s := &sealer12{aead: aead, seq: 1}
	copy(s.salt[:], kb[32:36])
	return s, nil
}

// seal appends one record of type typ.
func (s *sealer12) seal(dst []byte, typ byte, payload []byte) []byte {
	n := 8 + len(payload) + aeadTagLen
	dst = slices.Grow(dst, 5+n)
	dst = append(dst, typ, 3, 3, byte(n>>8), byte(n))
	var explicit [8]byte
	binary.BigEndian.PutUint64(explicit[:], s.seq)
	dst = append(dst, explicit[:]...)
	var nonce [12]byte
	copy(nonce[:4], s.salt[:])
	copy(nonce[4:], explicit[:])
	var ad [13]byte
	binary.BigEndian.PutUint64(ad[:8], s.seq)
	ad[8], ad[9], ad[10] = typ, 3, 3
	binary.BigEndian.PutUint16(ad[11:], uint16(len(payload)))
	s.seq++
	return s.aead.Seal(dst, nonce[:], payload, ad[:])
}
