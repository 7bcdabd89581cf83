package pow

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"fmt"
	"hash"
)

// digest is what crypto/sha256 documents its hash.Hash to implement: the
// binary (un)marshalling is what lets us snapshot and restore a midstate.
type digest interface {
	hash.Hash
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// midstate is SHA-256 with a fixed prefix already absorbed. Restoring the
// marshalled state skips every full block of the prefix, so for the 64-byte
// default token a check costs one compression instead of two.
type midstate struct {
	h     digest
	state []byte
	sum   [sha256.Size]byte // Sum target; living here keeps Sum from allocating
}

func newMidstate(prefix string) midstate {
	h := sha256.New().(digest)
	_, _ = h.Write([]byte(prefix)) // hash.Hash.Write never returns an error
	state, err := h.MarshalBinary()
	if err != nil {
		// crypto/sha256 documents that its state always marshals.
		panic(fmt.Sprintf("pow: marshal sha256 midstate: %v", err))
	}
	return midstate{h: h, state: state}
}

// fork returns an independent midstate for the same prefix; the marshalled
// state is read-only and can be shared between goroutines.
func (m *midstate) fork() midstate {
	return midstate{h: sha256.New().(digest), state: m.state}
}

// tail hashes prefix+suffix and returns the last 8 digest bytes, which are
// all that the n_bits rule (n_bits <= 64) looks at.
func (m *midstate) tail(suffix []byte) uint64 {
	m.sumInto(suffix)
	return binary.BigEndian.Uint64(m.sum[24:])
}

func (m *midstate) sumInto(suffix []byte) {
	// The state was produced by MarshalBinary of the same hash type, so
	// UnmarshalBinary cannot fail; a failure would show up as a wrong
	// digest in the oracle tests.
	_ = m.h.UnmarshalBinary(m.state)
	_, _ = m.h.Write(suffix)
	m.h.Sum(m.sum[:0])
}

// Verifier checks suffixes for one token. The token is absorbed once, so a
// check costs only the blocks that contain the suffix.
//
// A Verifier is not safe for concurrent use: it reuses one hash state and
// output buffer across checks to stay allocation-free. Use one per session
// (or per goroutine).
type Verifier struct {
	m midstate
}

// NewVerifier returns a Verifier for token (any length, including empty).
func NewVerifier(token string) *Verifier {
	return &Verifier{m: newMidstate(token)}
}

// Check reports whether SHA256(token+suffix) ends in at least nBits zero
// bits. nBits outside 0..64 never passes (see Meets). It does not allocate
// as long as suffix is already on the heap (the hash.Hash interface call
// makes suffix escape).
func (v *Verifier) Check(suffix []byte, nBits int) bool {
	if uint(nBits) > MaxBits {
		return false
	}
	return meetsTail(v.m.tail(suffix), nBits)
}

// Sum writes SHA256(token+suffix) into out.
func (v *Verifier) Sum(suffix []byte, out *[32]byte) {
	v.m.sumInto(suffix)
	*out = v.m.sum
}

// Valid reports whether SHA256(token+suffix) ends in at least nBits zero
// bits. It hashes from scratch with sha256.Sum256, so it is the slow but
// independent reference the Verifier and the solver are tested against.
func Valid(token, suffix string, nBits int) bool {
	sum := sha256.Sum256([]byte(token + suffix))
	return Meets(&sum, nBits)
}
