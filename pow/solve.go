package pow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrExhausted is returned (wrapped) when a search range holds no valid
// suffix. With a 2^64 counter space it only happens for explicit small
// limits given to SolveFrom.
var ErrExhausted = errors.New("pow: search range exhausted")

// Solution is a suffix that meets the difficulty, with the work it took.
type Solution struct {
	Suffix  string
	Hashes  uint64        // hashes computed by all workers, including losers
	Elapsed time.Duration // wall time of the search
}

const (
	// counterDigits base-64 digits hold 66 bits, enough for any uint64.
	counterDigits = 11
	// digitAlphabet is printable ASCII without space, so every suffix is
	// valid UTF-8 and survives the line protocol unchanged.
	digitAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
	// padByte fills the token's last block when the counter would not fit
	// in it together with SHA-256 padding (see searchPrefix).
	padByte = '.'
	// sha256 block size and the 9 bytes of mandatory padding (0x80 + length).
	blockSize   = 64
	padOverhead = 9
	// batchHashes is how many hashes a worker computes between looks at the
	// context and the stop flag: ~0.1-0.5 ms, so cancellation is prompt but
	// the check costs nothing measurable per hash.
	batchHashes = 4096
	// inlineHashes is how much Solve searches on the calling goroutine
	// before starting other workers: easy puzzles (the load generator's
	// n_bits 4) finish here without any goroutine or channel overhead, and
	// hard ones lose well under a millisecond of parallelism.
	inlineHashes = 4096
)

// searchPrefix returns the fixed padding that goes in front of the counter.
// If the counter plus SHA-256 padding would spill the token's last partial
// block into a second one, the padding completes that block instead, so it
// is absorbed into the midstate and every candidate costs one compression.
func searchPrefix(token string) string {
	rem := len(token) % blockSize
	if rem+counterDigits+padOverhead <= blockSize {
		return ""
	}
	return strings.Repeat(string(rune(padByte)), blockSize-rem)
}

// searcher walks a range of counters for one token on one goroutine. The
// candidate suffix is kept encoded and incremented in place, so a step
// costs one digit store in 63 of 64 cases and never allocates.
type searcher struct {
	m      midstate
	pad    string
	digits [counterDigits]byte // base-64 digits of next, as ASCII
	next   uint64              // counter of the candidate in digits
}

func newSearcher(m midstate, pad string, start uint64) *searcher {
	s := &searcher{m: m, pad: pad}
	s.seek(start)
	return s
}

func (s *searcher) seek(ctr uint64) {
	s.next = ctr
	for i := counterDigits - 1; i >= 0; i-- {
		s.digits[i] = digitAlphabet[ctr&63]
		ctr >>= 6
	}
}

// increment advances digits like an odometer; the alphabet is not in
// ASCII order, so a carry resets a digit to '0' explicitly.
func (s *searcher) increment() {
	s.next++
	for i := counterDigits - 1; i >= 0; i-- {
		if d := s.digits[i]; d != '_' {
			s.digits[i] = digitAlphabet[digitValue(d)+1]
			return
		}
		s.digits[i] = '0'
	}
}

func digitValue(d byte) int {
	switch {
	case d >= '0' && d <= '9':
		return int(d - '0')
	case d >= 'A' && d <= 'Z':
		return int(d-'A') + 10
	case d >= 'a' && d <= 'z':
		return int(d-'a') + 36
	case d == '-':
		return 62
	default:
		return 63
	}
}

// run tries up to n candidates. On success the digits still hold the
// winning candidate and found is true; done counts the hashes computed.
func (s *searcher) run(nBits int, n uint64) (found bool, done uint64) {
	for done < n {
		tail := s.m.tail(s.digits[:])
		done++
		if meetsTail(tail, nBits) {
			return true, done
		}
		s.increment()
	}
	return false, done
}

func (s *searcher) suffix() string {
	return s.pad + string(s.digits[:])
}

// SolveFrom searches, on the calling goroutine, the counters start,
// start+1, ... start+limit-1 for a suffix of token meeting nBits. It is the
// building block of Solve and suits callers that shard the space
// themselves. It returns an error wrapping ErrExhausted if the range holds
// no solution, or ErrBadBits.
func SolveFrom(token string, nBits int, start, limit uint64) (Solution, error) {
	if err := ValidateBits(nBits); err != nil {
		return Solution{}, fmt.Errorf("solve from %d: %w", start, err)
	}
	began := time.Now()
	pad := searchPrefix(token)
	s := newSearcher(newMidstate(token+pad), pad, start)
	limit = min(limit, math.MaxUint64-start)
	found, hashes := s.run(nBits, limit)
	sol := Solution{Hashes: hashes, Elapsed: time.Since(began)}
	if !found {
		return sol, fmt.Errorf("solve %d bits from %d, %d hashes: %w", nBits, start, limit, ErrExhausted)
	}
	sol.Suffix = s.suffix()
	return sol, nil
}

// Solve finds a suffix such that SHA256(token+suffix) ends in at least
// nBits zero bits, using workers goroutines (runtime.GOMAXPROCS(0) if
// workers <= 0). Each worker searches a disjoint counter range. The suffix
// is printable ASCII without spaces, at most 30 bytes.
//
// Errors wrap ErrBadBits for nBits outside 0..64, or ctx.Err() if ctx ends
// before a solution is found; Hashes and Elapsed are set in both cases.
func Solve(ctx context.Context, token string, nBits int, workers int) (Solution, error) {
	return SolveCounted(ctx, token, nBits, workers, nil)
}

// SolveCounted is Solve that also adds the hashes it computes to *counter
// as it goes (every few thousand per worker), so a caller can report
// progress; counter may be nil.
func SolveCounted(ctx context.Context, token string, nBits int, workers int, counter *atomic.Uint64) (Solution, error) {
	if err := ValidateBits(nBits); err != nil {
		return Solution{}, fmt.Errorf("solve: %w", err)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	began := time.Now()
	if err := ctx.Err(); err != nil {
		return Solution{}, fmt.Errorf("solve %d bits: %w", nBits, err)
	}
	pad := searchPrefix(token)
	m := newMidstate(token + pad)
	stride := math.MaxUint64 / uint64(workers)

	// Worker 0 is the caller; it first works alone (see inlineHashes).
	lead := newSearcher(m, pad, 0)
	found, hashes := lead.run(nBits, min(inlineHashes, stride))
	if counter != nil {
		counter.Add(hashes)
	}
	if found {
		return Solution{Suffix: lead.suffix(), Hashes: hashes, Elapsed: time.Since(began)}, nil
	}

	var (
		stop  atomic.Bool
		total atomic.Uint64
		mu    sync.Mutex
		win   string
		wg    sync.WaitGroup
	)
	total.Store(hashes)
	work := func(s *searcher, done, limit uint64) {
		for done < limit && !stop.Load() && ctx.Err() == nil {
			ok, n := s.run(nBits, min(batchHashes, limit-done))
			done += n
			total.Add(n)
			if counter != nil {
				counter.Add(n)
			}
			if ok {
				mu.Lock()
				if win == "" {
					win = s.suffix()
				}
				mu.Unlock()
				stop.Store(true)
			}
		}
	}
	for w := 1; w < workers; w++ {
		wg.Add(1)
		s := newSearcher(m.fork(), pad, uint64(w)*stride)
		go func() {
			defer wg.Done()
			work(s, 0, stride)
		}()
	}
	work(lead, hashes, stride)
	wg.Wait()

	sol := Solution{Suffix: win, Hashes: total.Load(), Elapsed: time.Since(began)}
	switch {
	case win != "":
		return sol, nil
	case ctx.Err() != nil:
		return sol, fmt.Errorf("solve %d bits, gave up after %d hashes: %w", nBits, sol.Hashes, ctx.Err())
	default:
		return sol, fmt.Errorf("solve %d bits with %d workers: %w", nBits, workers, ErrExhausted)
	}
}
