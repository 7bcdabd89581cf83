package reflog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/eventloop"
	"tlslpd/pow"
	"tlslpd/protocol"
	"tlslpd/statemachine"
)

func TestRepr(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1":      `'127.0.0.1'`,
		"OK":             `'OK'`,
		"":               `''`,
		"HELLOBACK\n":    `'HELLOBACK\n'`,
		"it's":           `"it's"`,
		`both ' and "`:   `'both \' and "'`,
		`back\slash`:     `'back\\slash'`,
		"tab\there\r":    `'tab\there\r'`,
		"\x00\x1b\x7f":   `'\x00\x1b\x7f'`,
		"Zoë 東京":         `'Zoë 東京'`,
		"\u200b":         `'\u200b'`,
		"\U000e0001":     `'\U000e0001'`,
		"\u0085":         `'\x85'`,
		"bad \xff utf-8": `'bad \xff utf-8'`,
	}
	for in, want := range tests {
		assert.Equal(t, want, Repr(in), "%q", in)
	}
}

func TestLineFormatAndLevels(t *testing.T) {
	var file, stderr bytes.Buffer
	at := time.Date(2026, 11, 25, 14, 3, 9, 0, time.FixedZone("", 3600))
	l := New(Options{Name: ServerName, Level: Info, File: &file, Stderr: &stderr, Now: func() time.Time { return at }})
	l.Log(Debug, "hidden")
	l.Log(Info, "Server starting")
	l.Log(Warning, "careful")
	l.Log(Critical, "down")
	assert.Equal(t, "2026-11-25T14:03:09+0100 INFO tlslp.server: Server starting\n"+
		"2026-11-25T14:03:09+0100 WARNING tlslp.server: careful\n"+
		"2026-11-25T14:03:09+0100 CRITICAL tlslp.server: down\n", file.String())
	assert.Equal(t, "2026-11-25T14:03:09+0100 WARNING tlslp.server: careful\n"+
		"2026-11-25T14:03:09+0100 CRITICAL tlslp.server: down\n", stderr.String(), "WARNING and above go to stderr too")

	file.Reset()
	tut := New(Options{Name: ClientName, Level: Info, File: &file, Tutorial: true})
	tut.Log(Info, "Connected to 1234")
	assert.Equal(t, "2000-01-01T00:00:00+0100 INFO tlslp.client: Connected to 1234\n", file.String())

	for _, s := range []string{"debug", "INFO", "Warning", "WARN", "error", "CRITICAL"} {
		_, err := ParseLevel(s)
		require.NoError(t, err, s)
	}
	_, err := ParseLevel("TRACE")
	require.Error(t, err)
}

func TestPathAndFile(t *testing.T) {
	env := map[string]string{"HOME": "/home/u"}
	p, err := Path("server.log", func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "/home/u/.local/state/tlslp/logs/server.log", p)
	env["XDG_STATE_HOME"] = "/var/state"
	p, err = Path("client.log", func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, "/var/state/tlslp/logs/client.log", p)
	_, err = Path("x", func(string) string { return "" })
	require.ErrorIs(t, err, ErrNoHome)

	path := filepath.Join(t.TempDir(), "tlslp", "logs", "server.log")
	for _, run := range []struct {
		tutorial bool
		want     string
	}{{false, "a\n"}, {false, "a\na\n"}, {true, "a\n"}} {
		f, err := OpenFile(path, run.tutorial)
		require.NoError(t, err)
		_, err = f.WriteString("a\n")
		require.NoError(t, err)
		require.NoError(t, f.Close())
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, run.want, string(data), "tutorial %v: overwritten, else appended", run.tutorial)
	}
}

// A tutorial session through the real state machine logs exactly the
// reference's lines.
func TestServerStepsTutorialSession(t *testing.T) {
	var file bytes.Buffer
	steps := NewServerSteps(New(Options{Level: Info, File: &file, Tutorial: true}))
	cfg := statemachine.Config{Token: protocol.DefaultToken, RandomString: "LGTk", NBits: 4, Tutorial: true}
	require.NoError(t, cfg.Validate())
	m := statemachine.New(&cfg, nil, cfg.Token)
	handle := func(ev statemachine.Event) string {
		from := m.State()
		a := m.Handle(ev, nil)
		steps.Step(m, ev, from, a.Send)
		return strings.TrimSuffix(string(a.Send), "\n")
	}
	line := func(s string) statemachine.Event {
		return statemachine.Event{Kind: statemachine.EventLine, Line: []byte(s)}
	}
	steps.Starting()
	steps.Listening("localhost", 1234)
	steps.Started(netip.MustParseAddr("::ffff:127.0.0.1"))
	require.Equal(t, "HELLO", handle(statemachine.Event{Kind: statemachine.EventStart}))
	require.True(t, strings.HasPrefix(handle(line("HELLOBACK")), "WORK "))
	sol, err := pow.Solve(t.Context(), cfg.Token, cfg.NBits, 1)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(cfg.Token + cfg.RandomString))
	cksum := hex.EncodeToString(sum[:])
	req := handle(line(sol.Suffix))
	values := []string{"Ada Lovelace", "ada@example.com", "", "it's me", "1815-12-10", "UK", "12 Square", "London"}
	for _, v := range values {
		require.True(t, strings.HasSuffix(req, " LGTk"), req)
		req = handle(line(cksum + " " + v))
	}
	require.Equal(t, "DONE", req)
	handle(line("OK"))
	steps.Ended(m)
	want := []string{
		"Server starting",
		"Server listening on https://'localhost':1234",
		"Connection from address: '127.0.0.1'",
		"Step: handshake",
		"Step: 'full_name'", "Received 'Ada Lovelace'",
		"Step: 'email1'", "Received 'ada@example.com'",
		"Step: 'email2'", "Received ''",
		"Step: 'social'", `Received "it's me"`,
		"Step: 'birthdate'", "Received '1815-12-10'",
		"Step: 'country'", "Received 'UK'",
		"Step: 'addr_line1'", "Received '12 Square'",
		"Step: 'addr_line2'", "Received 'London'",
		"Step: done",
		"Received 'OK'",
		"Connection closed",
	}
	for i, w := range want {
		want[i] = "2000-01-01T00:00:00+0100 INFO tlslp.server: " + w
	}
	assert.Equal(t, strings.Join(want, "\n")+"\n", file.String())
}

func TestZerologWriter(t *testing.T) {
	var file, stderr bytes.Buffer
	l := New(Options{Level: Info, File: &file, Stderr: &stderr, Tutorial: true})
	zl := zerolog.New(l.ZerologWriter()).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	zl.Info().Msg("not shown")
	zl.Warn().Str("signal", "terminated").Int("n", 2).Msg("second signal: exiting at once")
	want := "2000-01-01T00:00:00+0100 WARNING tlslp.server: second signal: exiting at once n=2 signal=terminated\n"
	assert.Equal(t, want, file.String())
	assert.Equal(t, want, stderr.String())
}

func BenchmarkServerStepLine(b *testing.B) {
	l := New(Options{Level: Info, File: discard{}})
	steps := NewServerSteps(l)
	cfg := statemachine.Config{Token: "AUTH", RandomString: "LGTk", NBits: 0, Tutorial: true}
	m := statemachine.New(&cfg, nil, cfg.Token)
	ev := statemachine.Event{Kind: statemachine.EventLine, Line: []byte("0123456789abcdef Ada Lovelace")}
	sent := []byte("EMAIL1 LGTk\n")
	b.ReportAllocs()
	for b.Loop() {
		steps.Step(m, ev, statemachine.StateBody, sent)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// ServerSteps is what the event loop calls.
var _ eventloop.StepObserver = (*ServerSteps)(nil)

// Whatever a peer sends, a quoted value stays on one line, between its
// quotes, in valid UTF-8.
func FuzzRepr(f *testing.F) {
	for _, s := range []string{"OK", "it's", `a"b'c`, "\n\r\t\x00", "\xff\xfe", "東京\u200b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := Repr(s)
		require.GreaterOrEqual(t, len(r), 2)
		require.Equal(t, r[0], r[len(r)-1])
		require.Contains(t, []byte{'\'', '"'}, r[0])
		require.NotContains(t, r, "\n")
		require.NotContains(t, r, "\r")
		require.True(t, utf8.ValidString(r))
	})
}
