package statemachine

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"tlslpd/protocol"
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("invalid session configuration")

// Config is what every session of a server shares.
type Config struct {
	// Token is sent in WORK; empty means a fresh random token per session
	// (the reference default in tutorial mode), so a suffix can never be
	// replayed across sessions.
	Token string
	// RandomString is sent with every body request and FAIL injection.
	RandomString string
	// NBits is the PoW difficulty, 0..64.
	NBits int
	// Tutorial sends each body command once, in order, and never injects FAIL.
	Tutorial bool
}

// Validate reports the first problem with c as one line naming the flag.
func (c *Config) Validate() error {
	if c.NBits < 0 || c.NBits > protocol.MaxNBits {
		return fmt.Errorf("%w: --n_bits %d is outside 0..%d", ErrConfig, c.NBits, protocol.MaxNBits)
	}
	if err := checkWord("--token", c.Token, true); err != nil {
		return err
	}
	if err := checkWord("--random-string", c.RandomString, false); err != nil {
		return err
	}
	if len("ADDR_LINE1 \n")+len(c.RandomString) > protocol.MaxLineLength {
		return fmt.Errorf("%w: --random-string is too long for a %d-byte line", ErrConfig, protocol.MaxLineLength)
	}
	if len(c.Token) > protocol.MaxLineLength-len("WORK  64\n") {
		return fmt.Errorf("%w: --token is too long for a %d-byte line", ErrConfig, protocol.MaxLineLength)
	}
	return nil
}

// checkWord rejects values that would break the line format: a space would
// shift the client's parse, a newline would split the line.
func checkWord(flag, v string, emptyOK bool) error {
	switch {
	case v == "" && !emptyOK:
		return fmt.Errorf("%w: %s must not be empty", ErrConfig, flag)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrConfig, flag)
	case strings.ContainsAny(v, " \t\r\n"):
		return fmt.Errorf("%w: %s must not contain spaces or line breaks", ErrConfig, flag)
	}
	return nil
}

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// SessionToken returns the token for a new session: the configured one, the
// reference default in tutorial mode, or else 64 random letters drawn from
// entropy (crypto/rand.Reader in production).
func (c *Config) SessionToken(entropy io.Reader) (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	if c.Tutorial {
		return protocol.DefaultToken, nil
	}
	return RandomToken(entropy)
}

// RandomToken draws protocol.TokenLength letters uniformly from entropy.
func RandomToken(entropy io.Reader) (string, error) {
	// Rejection sampling keeps letters uniform: 208 = 4*52 is the largest
	// multiple of the alphabet size that fits in a byte.
	const accept = 4 * len(tokenAlphabet)
	var token [protocol.TokenLength]byte
	var raw [protocol.TokenLength + protocol.TokenLength/2]byte
	n := 0
	for n < len(token) {
		if _, err := io.ReadFull(entropy, raw[:]); err != nil {
			return "", fmt.Errorf("draw session token: %w", err)
		}
		for _, b := range raw {
			if int(b) < accept && n < len(token) {
				token[n] = tokenAlphabet[int(b)%len(tokenAlphabet)]
				n++
			}
		}
	}
	return string(token[:]), nil
}
