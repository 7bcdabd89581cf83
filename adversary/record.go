package adversary

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
)

// TLS 1.3 record constants (RFC 8446 section 5).
const (
	recordTypeAlert           = 21
	recordTypeHandshake       = 22
	recordTypeApplicationData = 23
	handshakeTypeKeyUpdate    = 24
	alertLevelWarning         = 1
	alertUserCanceled         = 90
	aeadNonceLen              = 12
	aeadTagLen                = 16
	maxPlaintext              = 1 << 14
)

// errNotTLS13 is returned when the session did not negotiate TLS 1.3: the
// floods need TLS 1.3's record layer.
var errNotTLS13 = errors.New("adversary: the session is not TLS 1.3")

// keyLog captures the client's application traffic secret through
// tls.Config.KeyLogWriter. One keyLog serves one connection.
type keyLog struct {
	mu     sync.Mutex
	secret []byte
}

func (k *keyLog) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 3 && string(f[0]) == "CLIENT_TRAFFIC_SECRET_0" {
			s, err := hex.DecodeString(string(f[2]))
			if err != nil {
				return 0, fmt.Errorf("key log: %w", err)
			}
			k.mu.Lock()
			k.secret = s
			k.mu.Unlock()
		}
	}
	return len(p), nil
}

func (k *keyLog) clientSecret() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.secret
}

// sealer is the client's sending half of a TLS 1.3 record layer, taking
// over from crypto/tls once the handshake is done (the client's Finished
// went out under the handshake keys, so application records start at
// sequence 0).
type sealer struct {
	hash   func() hash.Hash
	keyLen int
	newAE  func([]byte) (cipher.AEAD, error)
	secret []byte
	aead   cipher.AEAD
	iv     [aeadNonceLen]byte
	seq    uint64
	nonce  [aeadNonceLen]byte
}

func newAESGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func newSealer(suite uint16, secret []byte) (*sealer, error) {
	s := &sealer{}
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
		s.hash, s.keyLen, s.newAE = sha256.New, 16, newAESGCM
	case tls.TLS_AES_256_GCM_SHA384:
		s.hash, s.keyLen, s.newAE = sha512.New384, 32, newAESGCM
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		s.hash, s.keyLen, s.newAE = sha256.New, chacha20poly1305.KeySize, chacha20poly1305.New
	default:
		return nil, fmt.Errorf("adversary: cipher suite %#04x is not a TLS 1.3 suite", suite)
	}
	if err := s.setSecret(secret); err != nil {
		return nil, err
	}
	return s, nil
}

// expandLabel is HKDF-Expand-Label (RFC 8446 section 7.1) with an empty
// context.
func expandLabel(h func() hash.Hash, secret []byte, label string, length int) ([]byte, error) {
	info := binary.BigEndian.AppendUint16(nil, uint16(length))
	info = append(info, byte(len("tls13 ")+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0)
	return hkdf.Expand(h, secret, string(info), length)
}

func (s *sealer) setSecret(secret []byte) error {
	key, err := expandLabel(s.hash, secret, "key", s.keyLen)
	if err != nil {
		return err
	}
	iv, err := expandLabel(s.hash, secret, "iv", aeadNonceLen)
	if err != nil {
		return err
	}
	aead, err := s.newAE(key)
	if err != nil {
		return err
	}
	s.secret, s.aead, s.seq = secret, aead, 0
	copy(s.iv[:], iv)
	return nil
}

// seal appends one protected record whose inner content type is typ.
func (s *sealer) seal(dst []byte, typ byte, payload []byte) []byte {
	n := len(payload) + 1 + aeadTagLen
	dst = slices.Grow(dst, 5+n) // Seal below then works in place
	hdr := len(dst)
	dst = append(dst, recordTypeApplicationData, 3, 3, byte(n>>8), byte(n))
	body := len(dst)
	dst = append(dst, payload...)
	dst = append(dst, typ)
	s.nonce = s.iv
	for i := 0; i < 8; i++ {
		s.nonce[aeadNonceLen-1-i] ^= byte(s.seq >> (8 * i))
	}
	s.seq++
	out := s.aead.Seal(dst[body:body], s.nonce[:], dst[body:], dst[hdr:body])
	return dst[:body+len(out)]
}

// keyUpdate appends a KeyUpdate record (asking the server to update too
// when requested) and moves the sending keys on, as RFC 8446 4.6.3 says.
func (s *sealer) keyUpdate(dst []byte, requested bool) ([]byte, error) {
	req := byte(0)
	if requested {
		req = 1
	}
	dst = s.seal(dst, recordTypeHandshake, []byte{handshakeTypeKeyUpdate, 0, 0, 1, req})
	next, err := expandLabel(s.hash, s.secret, "traffic upd", len(s.secret))
	if err != nil {
		return dst, err
	}
	return dst, s.setSecret(next)
}
