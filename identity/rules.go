package identity

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// Decisions the rules take, the label values of
// tlslpd_identity_decisions_total and the words logs use.
const (
	// Handshakes (Check):
	DecisionAllowed    = "allowed"     // a certificate the lists let through
	DecisionAnonymous  = "anonymous"   // no certificate (--client-auth optional), no allow list
	DecisionDenied     = "denied"      // on the deny list
	DecisionNotAllowed = "not_allowed" // an allow list is set and the identity is not on it
	// Sessions (Acquire):
	DecisionOverLimit = "over_limit" // --max-conns-per-identity reached
)

// decisions indexes Rules.decided.
var decisions = [...]string{DecisionAllowed, DecisionAnonymous, DecisionDenied, DecisionNotAllowed, DecisionOverLimit}

// Decisions lists every decision, so each series exists from startup.
func Decisions() []string { return decisions[:] }

// Sentinel errors Check wraps.
var (
	ErrDenied     = errors.New("identity: certificate fingerprint is on the deny list")
	ErrNotAllowed = errors.New("identity: certificate fingerprint is not on the allow list")
)

// Options configure Rules. Empty file names mean no such list.
type Options struct {
	// AllowFile lists the only fingerprints admitted (an empty file
	// admits none). Connections without a certificate are refused.
	AllowFile string
	// DenyFile lists fingerprints refused; it wins over the allow list.
	DenyFile string
	// MaxConnsPerIdentity caps one fingerprint's concurrent sessions
	// (0: no cap).
	MaxConnsPerIdentity int
}

// Rules decide on client identities. Check and Acquire/Release are safe
// for concurrent use and never block on I/O: Reload builds the new lists
// aside and swaps them in.
type Rules struct {
	opts  Options
	lists atomic.Pointer[lists]

	decided [len(decisions)]atomic.Uint64

	shards [limiterShards]limiterShard
}

type lists struct {
	allow map[Fingerprint]struct{} // nil: no allow list
	deny  map[Fingerprint]struct{}
}

const limiterShards = 16

type limiterShard struct {
	mu    sync.Mutex
	conns map[Fingerprint]int
}

// New reads the lists; an unreadable or malformed file is an error.
func New(opts Options) (*Rules, error) {
	if opts.MaxConnsPerIdentity < 0 {
		return nil, fmt.Errorf("identity: max connections per identity %d is negative", opts.MaxConnsPerIdentity)
	}
	r := &Rules{opts: opts}
	for i := range r.shards {
		r.shards[i].conns = make(map[Fingerprint]int)
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Files are the list files, for a watcher to stat.
func (r *Rules) Files() []string {
	var out []string
	for _, f := range []string{r.opts.AllowFile, r.opts.DenyFile} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// HasAllowList reports whether an allow list is configured.
func (r *Rules) HasAllowList() bool { return r.opts.AllowFile != "" }

// Reload re-reads both files and swaps them in for handshakes that check
// afterwards. On error the lists in force stay.
func (r *Rules) Reload() error {
	var next lists
	var err error
	if r.opts.AllowFile != "" {
		if next.allow, err = readList(r.opts.AllowFile); err != nil {
			return fmt.Errorf("identity: allow list: %w", err)
		}
	}
	if r.opts.DenyFile != "" {
		if next.deny, err = readList(r.opts.DenyFile); err != nil {
			return fmt.Errorf("identity: deny list: %w", err)
		}
	}
	r.lists.Store(&next)
	return nil
}

// Sizes reports how many fingerprints each list holds now (-1: no allow
// list), for the reload log line.
func (r *Rules) Sizes() (allow, deny int) {
	l := r.lists.Load()
	allow = -1
	if l.allow != nil {
		allow = len(l.allow)
	}
	return allow, len(l.deny)
}

// Check decides on a handshake's client certificate: present reports
// whether there is one, fp is its fingerprint. It counts the decision and
// returns nil, or an error wrapping ErrDenied or ErrNotAllowed.
func (r *Rules) Check(fp Fingerprint, present bool) error {
	l := r.lists.Load()
	switch {
	case !present && l.allow != nil:
		r.count(DecisionNotAllowed)
		return fmt.Errorf("%w (no certificate presented)", ErrNotAllowed)
	case !present:
		r.count(DecisionAnonymous)
		return nil
	}
	if _, ok := l.deny[fp]; ok {
		r.count(DecisionDenied)
		return fmt.Errorf("%w: %s", ErrDenied, fp)
	}
	if l.allow != nil {
		if _, ok := l.allow[fp]; !ok {
			r.count(DecisionNotAllowed)
			return fmt.Errorf("%w: %s", ErrNotAllowed, fp)
		}
	}
	r.count(DecisionAllowed)
	return nil
}

// Limited reports whether Acquire can refuse anything.
func (r *Rules) Limited() bool { return r.opts.MaxConnsPerIdentity > 0 }

// Acquire counts one more session of fp; it refuses (and counts
// over_limit) when fp already has MaxConnsPerIdentity. A true result
// must be paired with one Release.
func (r *Rules) Acquire(fp Fingerprint) bool {
	max := r.opts.MaxConnsPerIdentity
	if max <= 0 {
		return true
	}
	s := &r.shards[fp[0]%limiterShards]
	s.mu.Lock()
	n := s.conns[fp]
	ok := n < max
	if ok {
		s.conns[fp] = n + 1
	}
	s.mu.Unlock()
	if !ok {
		r.count(DecisionOverLimit)
	}
	return ok
}

// Release ends a session Acquire admitted.
func (r *Rules) Release(fp Fingerprint) {
	if r.opts.MaxConnsPerIdentity <= 0 {
		return
	}
	s := &r.shards[fp[0]%limiterShards]
	s.mu.Lock()
	if n := s.conns[fp]; n <= 1 {
		delete(s.conns, fp) // the map holds only identities with sessions
	} else {
		s.conns[fp] = n - 1
	}
	s.mu.Unlock()
}

// Sessions reports fp's sessions counted now.
func (r *Rules) Sessions(fp Fingerprint) int {
	s := &r.shards[fp[0]%limiterShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[fp]
}

// Decided returns how many times decision was taken.
func (r *Rules) Decided(decision string) uint64 {
	for i, d := range decisions {
		if d == decision {
			return r.decided[i].Load()
		}
	}
	return 0
}

func (r *Rules) count(decision string) {
	for i, d := range decisions {
		if d == decision {
			r.decided[i].Add(1)
			return
		}
	}
}

const opensslPrefix = "sha256 fingerprint="

// readList reads one fingerprint per line. The first field of a line is
// the fingerprint (see ParseFingerprint; OpenSSL's "sha256 Fingerprint="
// line is taken as it prints it); the rest of it, blank lines and lines
// starting with '#' are comments.
func readList(path string) (map[Fingerprint]struct{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := make(map[Fingerprint]struct{})
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		// What `openssl x509 -noout -fingerprint -sha256` prints, pasted
		// whole: "sha256 Fingerprint=AB:CD:…".
		if len(line) >= len(opensslPrefix) && strings.EqualFold(string(line[:len(opensslPrefix)]), opensslPrefix) {
			line = line[len(opensslPrefix):]
		}
		fields := bytes.Fields(line)
		if len(fields) == 0 || fields[0][0] == '#' {
			continue
		}
		fp, err := ParseFingerprint(string(fields[0]))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out[fp] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}
