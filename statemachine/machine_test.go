package statemachine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testproto"
	"tlslpd/protocol"
)

// scripted replays fixed draws, so a test decides exactly which body
// command (or FAIL, = NumBodyCommands) comes next.
type scripted struct {
	draws []int
	calls int
}

func (s *scripted) IntN(n int) int {
	if n != protocol.NumBodyCommands+1 {
		panic(fmt.Sprintf("draw over %d choices, want 9", n))
	}
	d := s.draws[s.calls%len(s.draws)]
	s.calls++
	return d
}

const testToken = "AUTH"

func testConfig() *Config {
	return &Config{Token: testToken, RandomString: "LGTk", NBits: 8}
}

func line(s string) Event { return Event{Kind: EventLine, Line: []byte(s)} }

func send(t *testing.T, m *Machine, ev Event) Action {
	t.Helper()
	a := m.Handle(ev, nil)
	if a.Send != nil {
		require.Equal(t, 1, bytes.Count(a.Send, []byte{'\n'}), "exactly one line per action: %q", a.Send)
		require.True(t, bytes.HasSuffix(a.Send, []byte{'\n'}))
	}
	return a
}

// toBody drives a fresh machine to its first body request.
func toBody(t *testing.T, cfg *Config, rng Rand) (*Machine, Action) {
	t.Helper()
	m := New(cfg, rng, testToken)
	send(t, m, Event{Kind: EventStart})
	send(t, m, line(protocol.HelloBack))
	a := send(t, m, line(testproto.Suffix(t, testToken, cfg.NBits)))
	return m, a
}

// Every open session holds a Machine from its handshake to its end, tens
// of thousands of them parked at WORK in a load test: it must stay in the
// 128-byte allocation size class (the hex checksum it once held took it
// to 160).
func TestMachineFitsItsSizeClass(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Machine{}), uintptr(128))
}

func TestHappyPathNormalMode(t *testing.T) {
	cfg := testConfig()
	// Draw commands 0..7 cyclically, never FAIL (8).
	rng := &scripted{draws: []int{0, 1, 2, 3, 4, 5, 6, 7}}
	m := New(cfg, rng, testToken)

	a := send(t, m, Event{Kind: EventStart})
	assert.Equal(t, "HELLO\n", string(a.Send))
	assert.Equal(t, DeadlineShort, a.Deadline)
	assert.Equal(t, StateHello, m.State())

	a = send(t, m, line("HELLOBACK"))
	assert.Equal(t, "WORK AUTH 8\n", string(a.Send))
	assert.Equal(t, DeadlineWork, a.Deadline)
	assert.Equal(t, StateWork, m.State())

	a = send(t, m, line(testproto.Suffix(t, testToken, 8)))
	cksum := testproto.Checksum(testToken, "LGTk")
	for i := range protocol.BodyRequests {
		want := protocol.BodyCommands[i%8] + " LGTk\n"
		require.Equal(t, want, string(a.Send), "request %d", i)
		require.Equal(t, DeadlineShort, a.Deadline)
		require.False(t, a.Close)
		require.Equal(t, StateBody, m.State())
		require.Equal(t, i, m.BodyIndex())
		a = send(t, m, line(cksum+" value "+fmt.Sprint(i)))
	}
	assert.Equal(t, "DONE\n", string(a.Send))
	assert.Equal(t, StateDone, m.State())

	a = send(t, m, line("OK"))
	assert.Equal(t, Action{Close: true, Outcome: OutcomeCompleted}, a)
	assert.Equal(t, StateCompleted, m.State())
	assert.Equal(t, OutcomeCompleted, m.Outcome())
	require.Len(t, m.Replies(), protocol.BodyRequests)
	assert.Equal(t, Reply{Command: "EMAIL1", Value: "value 1"}, m.Replies()[1])
	assert.Equal(t, protocol.BodyRequests, rng.calls)
}

func TestTutorialOrderAndNoInjection(t *testing.T) {
	cfg := testConfig()
	cfg.Tutorial = true
	rng := &scripted{draws: []int{8}} // would inject FAIL if ever consulted
	m, a := toBody(t, cfg, rng)
	cksum := testproto.Checksum(testToken, "LGTk")
	for _, cmd := range protocol.BodyCommands {
		require.Equal(t, cmd+" LGTk\n", string(a.Send))
		a = send(t, m, line(cksum+" "+cmd+" answer"))
	}
	assert.Equal(t, "DONE\n", string(a.Send))
	a = send(t, m, line("OK"))
	assert.Equal(t, OutcomeCompleted, a.Outcome)
	assert.Zero(t, rng.calls, "tutorial mode must not draw")
	require.Len(t, m.Replies(), 8)
	assert.Equal(t, "ADDR_LINE2 answer", m.Replies()[7].Value)
	assert.True(t, m.Tutorial())
}

func TestInjectedFail(t *testing.T) {
	for _, at := range []int{0, 1, 7, 19} {
		t.Run(fmt.Sprint("at request ", at), func(t *testing.T) {
			draws := make([]int, protocol.BodyRequests)
			for i := range draws {
				draws[i] = i % 8
			}
			draws[at] = protocol.NumBodyCommands
			m, a := toBody(t, testConfig(), &scripted{draws: draws})
			cksum := testproto.Checksum(testToken, "LGTk")
			for range at {
				a = send(t, m, line(cksum+" v"))
			}
			assert.Equal(t, "FAIL LGTk\n", string(a.Send))
			assert.True(t, a.Close)
			assert.Equal(t, OutcomeInjectedFail, a.Outcome)
			assert.Equal(t, StateFailed, m.State())
			assert.Equal(t, "FAIL LGTk", m.FailLine())
			assert.Len(t, m.Replies(), at)
		})
	}
}

func TestDrawsAreUniformOverNineChoices(t *testing.T) {
	// A seeded generator keeps this deterministic; the bound is loose
	// (expected 1/9 each) but catches an off-by-one that drops a choice.
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	cfg := testConfig()
	cfg.NBits = 0
	cksum := testproto.Checksum(testToken, "LGTk")
	for range 2000 {
		m := New(cfg, rng, testToken)
		m.Handle(Event{Kind: EventStart}, nil)
		m.Handle(line("HELLOBACK"), nil)
		a := m.Handle(line("x"), nil)
		for !a.Close && m.State() == StateBody {
			cmd, _, _ := strings.Cut(strings.TrimSuffix(string(a.Send), "\n"), " ")
			counts[cmd]++
			a = m.Handle(line(cksum+" v"), nil)
		}
		if a.Outcome == OutcomeInjectedFail {
			counts["FAIL"]++
		}
	}
	require.Len(t, counts, 9)
	total := 0
	for _, n := range counts {
		total += n
	}
	for cmd, n := range counts {
		share := float64(n) / float64(total)
		assert.InDelta(t, 1.0/9, share, 0.02, cmd)
	}
}

func TestFailures(t *testing.T) {
	cksum := testproto.Checksum(testToken, "LGTk")
	tests := []struct {
		name     string
		state    State // state to reach before the event
		ev       Event
		wantLine string // "" = nothing sent
		outcome  Outcome
	}{
		{"wrong hello reply", StateHello, line("HELLO"), protocol.FailExpectedHelloBack, OutcomeBadHelloBack},
		{"lowercase helloback", StateHello, line("helloback"), protocol.FailExpectedHelloBack, OutcomeBadHelloBack},
		{"helloback with trailing space", StateHello, line("HELLOBACK "), protocol.FailExpectedHelloBack, OutcomeBadHelloBack},
		{"empty hello reply", StateHello, line(""), protocol.FailExpectedHelloBack, OutcomeBadHelloBack},
		{"weak suffix", StateWork, line(testproto.WeakSuffix(t, testToken, 8)), protocol.FailInvalidSuffix, OutcomeBadSuffix},
		{"wrong checksum", StateBody, line(strings.Repeat("0", 64) + " v"), protocol.FailInvalidChecksum, OutcomeBadChecksum},
		{"uppercase checksum", StateBody, line(strings.ToUpper(cksum) + " v"), protocol.FailInvalidChecksum, OutcomeBadChecksum},
		{"checksum prefix only", StateBody, line(cksum[:63] + " v"), protocol.FailInvalidChecksum, OutcomeBadChecksum},
		{"checksum with extra char", StateBody, line(cksum + "0 v"), protocol.FailInvalidChecksum, OutcomeBadChecksum},
		{"wrong done reply", StateDone, line("DONE"), protocol.FailExpectedOK, OutcomeBadOK},
		{"ok lowercase", StateDone, line("ok"), protocol.FailExpectedOK, OutcomeBadOK},
		{"hello timeout", StateHello, Event{Kind: EventDeadline}, protocol.FailHelloTimeout, OutcomeTimeout},
		{"work timeout", StateWork, Event{Kind: EventDeadline}, protocol.FailWorkTimeout, OutcomeTimeout},
		{"body timeout", StateBody, Event{Kind: EventDeadline}, protocol.FailBodyTimeout, OutcomeTimeout},
		{"done timeout", StateDone, Event{Kind: EventDeadline}, protocol.FailDoneTimeout, OutcomeTimeout},
		{"receive error in hello", StateHello, Event{Kind: EventReceiveError}, protocol.FailReceiving, OutcomeReceiveError},
		{"receive error in body", StateBody, Event{Kind: EventReceiveError}, protocol.FailReceiving, OutcomeReceiveError},
		{"shutdown in work", StateWork, Event{Kind: EventShutdown}, protocol.FailShutdown, OutcomeShutdown},
		{"peer closed in work", StateWork, Event{Kind: EventPeerClosed}, "", OutcomePeerClosed},
		{"transport error in body", StateBody, Event{Kind: EventTransportError}, "", OutcomeTransportError},
		{"line before start", StateNew, line("HELLOBACK"), protocol.FailExpectedHelloBack, OutcomeBadHelloBack},
		{"deadline before start", StateNew, Event{Kind: EventDeadline}, "", OutcomeTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := driveTo(t, tc.state)
			a := send(t, m, tc.ev)
			assert.True(t, a.Close)
			assert.Equal(t, tc.outcome, a.Outcome)
			assert.Equal(t, tc.outcome, m.Outcome())
			assert.Equal(t, StateFailed, m.State())
			if tc.wantLine == "" {
				assert.Nil(t, a.Send)
			} else {
				assert.Equal(t, tc.wantLine+"\n", string(a.Send))
				assert.Equal(t, tc.wantLine, m.FailLine())
			}
			// Terminal: nothing more happens, whatever arrives.
			for _, ev := range []Event{line("OK"), {Kind: EventDeadline}, {Kind: EventStart}, {Kind: EventShutdown}} {
				assert.Equal(t, Action{}, m.Handle(ev, nil))
			}
		})
	}
}

// driveTo returns a machine waiting in state s.
func driveTo(t *testing.T, s State) *Machine {
	t.Helper()
	cfg := testConfig()
	m := New(cfg, &scripted{draws: []int{3}}, testToken)
	steps := []Event{{Kind: EventStart}, line("HELLOBACK"), line(testproto.Suffix(t, testToken, 8))}
	cksum := testproto.Checksum(testToken, "LGTk")
	for range protocol.BodyRequests {
		steps = append(steps, line(cksum+" v"))
	}
	for _, ev := range steps {
		if m.State() == s {
			return m
		}
		a := send(t, m, ev)
		require.False(t, a.Close, "unexpected close before reaching %s", s)
	}
	require.Equal(t, s, m.State())
	return m
}

func TestChecksumWithoutValueSeparator(t *testing.T) {
	// An empty value may come with or without the separating space.
	for _, reply := range []string{"", " "} {
		m, _ := toBody(t, testConfig(), &scripted{draws: []int{2}})
		a := send(t, m, line(testproto.Checksum(testToken, "LGTk")+reply))
		assert.False(t, a.Close)
		assert.Equal(t, Reply{Command: "EMAIL2", Value: ""}, m.Replies()[0])
	}
}

func TestValuesKeepSpacesAndUnicode(t *testing.T) {
	m, _ := toBody(t, testConfig(), &scripted{draws: []int{0}})
	send(t, m, line(testproto.Checksum(testToken, "LGTk")+" Zoë  de la Cruz "))
	assert.Equal(t, "Zoë  de la Cruz ", m.Replies()[0].Value)
}

func TestStartTwiceIsIgnored(t *testing.T) {
	m := New(testConfig(), &scripted{draws: []int{0}}, testToken)
	send(t, m, Event{Kind: EventStart})
	assert.Equal(t, Action{}, m.Handle(Event{Kind: EventStart}, nil))
	assert.Equal(t, StateHello, m.State())
}

func TestSendAppendsToCallerBuffer(t *testing.T) {
	m := New(testConfig(), &scripted{draws: []int{0}}, testToken)
	buf := make([]byte, 0, 128)
	a := m.Handle(Event{Kind: EventStart}, buf)
	assert.Equal(t, "HELLO\n", string(a.Send))
	assert.Equal(t, &buf[:1][0], &a.Send[0], "the line must be built in the caller's buffer")
}

func TestNBitsZeroAcceptsAnySuffix(t *testing.T) {
	cfg := testConfig()
	cfg.NBits = 0
	m := New(cfg, &scripted{draws: []int{0}}, testToken)
	send(t, m, Event{Kind: EventStart})
	send(t, m, line("HELLOBACK"))
	a := send(t, m, line(""))
	assert.Equal(t, "FULL_NAME LGTk\n", string(a.Send))
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{Token: protocol.DefaultToken, RandomString: "LGTk", NBits: 28}, ""},
		{"random token", Config{RandomString: "LGTk", NBits: 0}, ""},
		{"max bits", Config{RandomString: "LGTk", NBits: 64}, ""},
		{"negative bits", Config{RandomString: "LGTk", NBits: -1}, "--n_bits -1 is outside 0..64"},
		{"too many bits", Config{RandomString: "LGTk", NBits: 65}, "--n_bits 65"},
		{"token with space", Config{Token: "a b", RandomString: "x"}, "--token must not contain spaces"},
		{"token with newline", Config{Token: "a\nb", RandomString: "x"}, "--token must not contain"},
		{"empty random string", Config{RandomString: ""}, "--random-string must not be empty"},
		{"random string bad utf8", Config{RandomString: "\xff"}, "--random-string is not valid UTF-8"},
		{"random string too long", Config{RandomString: strings.Repeat("x", 990)}, "--random-string is too long"},
		{"token too long", Config{Token: strings.Repeat("x", 995), RandomString: "x"}, "--token is too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrConfig)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestSessionToken(t *testing.T) {
	entropy := rand.NewChaCha8([32]byte{7})
	configured := Config{Token: "given", RandomString: "x"}
	tok, err := configured.SessionToken(entropy)
	require.NoError(t, err)
	assert.Equal(t, "given", tok)

	tutorial := Config{Tutorial: true, RandomString: "x"}
	tok, err = tutorial.SessionToken(entropy)
	require.NoError(t, err)
	assert.Equal(t, protocol.DefaultToken, tok)

	fresh := Config{RandomString: "x"}
	seen := map[string]bool{}
	for range 100 {
		tok, err := fresh.SessionToken(entropy)
		require.NoError(t, err)
		require.Len(t, tok, protocol.TokenLength)
		for _, c := range tok {
			require.True(t, (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'), "non-letter %q", c)
		}
		require.False(t, seen[tok], "token repeated")
		seen[tok] = true
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy gone") }

func TestRandomTokenEntropyError(t *testing.T) {
	_, err := RandomToken(failingReader{})
	require.ErrorContains(t, err, "entropy gone")
}

func TestOutcomeAndStateNames(t *testing.T) {
	names := map[string]bool{}
	for _, o := range Outcomes() {
		require.NotEqual(t, "unknown", o.String())
		require.False(t, names[o.String()], "duplicate name %s", o)
		names[o.String()] = true
	}
	assert.Len(t, Outcomes(), int(numOutcomes)-1)
	assert.Equal(t, "body", StateBody.String())
}

// FuzzMachine drives a machine with arbitrary event sequences: it must never
// panic, every action must be well formed, and once it closes it must stay
// terminal with a recorded outcome.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1}, "HELLOBACK\x00s1\x00x", uint8(3))
	f.Add([]byte{0, 2}, "", uint8(0))
	f.Add([]byte{1, 0, 1}, "OK", uint8(8))
	f.Fuzz(func(t *testing.T, kinds []byte, lines string, seed uint8) {
		cfg := &Config{Token: testToken, RandomString: "LGTk", NBits: int(seed % 3), Tutorial: seed&0x80 != 0}
		m := New(cfg, rand.New(rand.NewPCG(uint64(seed), 1)), testToken)
		parts := strings.Split(lines, "\x00")
		closed := false
		for i, k := range kinds {
			ev := Event{Kind: EventKind(k % 8)} // 7 is not a kind: must be ignored
			if ev.Kind == EventLine {
				ev.Line = []byte(parts[i%len(parts)])
			}
			before := m.State()
			a := m.Handle(ev, nil)
			if a.Send != nil {
				require.Equal(t, 1, bytes.Count(a.Send, []byte{'\n'}))
				require.True(t, bytes.HasSuffix(a.Send, []byte{'\n'}))
				require.LessOrEqual(t, len(a.Send), protocol.MaxLineLength+1)
			}
			if closed || before.Terminal() {
				require.Equal(t, Action{}, a, "events after the end must do nothing")
				continue
			}
			if a.Close {
				closed = true
				require.True(t, m.State().Terminal())
				require.NotEqual(t, OutcomeNone, a.Outcome)
				require.Equal(t, a.Outcome, m.Outcome())
				require.Equal(t, DeadlineNone, a.Deadline)
			} else {
				require.False(t, m.State().Terminal())
				if a.Send != nil {
					require.NotEqual(t, DeadlineNone, a.Deadline, "every request arms a deadline")
				}
			}
		}
	})
}

func BenchmarkSessionCompleted(b *testing.B) {
	cfg := &Config{Token: protocol.DefaultToken, RandomString: "LGTk", NBits: 0}
	rng := rand.New(rand.NewPCG(1, 1))
	cksum := []byte(testproto.Checksum(protocol.DefaultToken, "LGTk") + " Zoë Ñúñez")
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		m := New(cfg, rng, protocol.DefaultToken)
		a := m.Handle(Event{Kind: EventStart}, buf)
		a = m.Handle(Event{Kind: EventLine, Line: []byte("HELLOBACK")}, buf)
		a = m.Handle(Event{Kind: EventLine, Line: []byte("suffix")}, buf)
		for !a.Close && m.State() == StateBody {
			a = m.Handle(Event{Kind: EventLine, Line: cksum}, buf)
		}
		if m.State() == StateDone {
			m.Handle(Event{Kind: EventLine, Line: []byte("OK")}, buf)
		}
	}
}

func TestReplyJSONUsesRecordKeys(t *testing.T) {
	out, err := json.Marshal(Reply{Command: "EMAIL1", Value: "a b"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"command":"EMAIL1","value":"a b"}`, string(out))
}

// A session waiting at WORK can wait for as long as its client computes,
// and a load test parks thousands there: what the WORK step leaves held
// is paid per parked session.
func TestWaitingAtWorkHoldsNoMoreThanAtHello(t *testing.T) {
	const n = 2000
	cfg := testConfig()
	ms := make([]*Machine, n)
	for i := range ms {
		ms[i] = New(cfg, rand.New(rand.NewPCG(1, 2)), testToken)
		ms[i].Handle(Event{Kind: EventStart}, nil)
	}
	live := func() uint64 {
		var st runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&st)
		return st.HeapAlloc
	}
	atHello := live()
	var buf [64]byte
	for _, m := range ms {
		m.Handle(line(protocol.HelloBack), buf[:0])
	}
	atWork := live()
	for _, m := range ms {
		require.Equal(t, StateWork, m.State())
	}
	perSession := (int64(atWork) - int64(atHello)) / n
	assert.Less(t, perSession, int64(64), "bytes held per session by moving from HELLO to WORK")
}
