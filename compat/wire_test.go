package compat

import (
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without flags the server sends the reference's defaults: its token (the
// same to every session) and n_bits 28.
func TestDefaultsOnTheWire(t *testing.T) {
	h := newHome(t)
	s := h.startServer(t)
	for range 2 {
		c := s.dial(t)
		token, bits := c.work()
		assert.Equal(t, refToken, token)
		assert.Equal(t, 28, bits)
	}
}

// A tutorial session, byte for byte: HELLO, WORK, the 8 commands in order
// with the default random string, DONE, then the close; the server exits 0.
func TestTutorialSessionBytes(t *testing.T) {
	h := newHome(t)
	s := h.startServer(t, "--tutorial", "--n_bits", "8")
	c := s.dial(t)
	c.expect("HELLO\n")
	c.send("HELLOBACK\n")
	c.expect("WORK " + refToken + " 8\n")
	c.solve(refToken, 8)
	cksum := checksum(refToken, refRandomString)
	for _, cmd := range bodyCommands {
		c.expect(cmd + " " + refRandomString + "\n")
		c.send(cksum + " some value\n")
	}
	c.expect("DONE\n")
	c.send("OK\n")
	c.expectEnd()
	assert.Equal(t, 0, s.ExitCode(bound))
}

func (c *conn) expectEnd() {
	c.t.Helper()
	b, err := c.r.ReadByte()
	require.Error(c.t, err, "want the end of the connection, got %q", b)
}

// Normal mode: 20 draws from the 8 commands and FAIL; a drawn FAIL is
// "FAIL <random_string>" and the end, without DONE.
func TestNormalModeBodyAndInjectedFail(t *testing.T) {
	h := newHome(t)
	s := h.startServer(t, "--n_bits", "4", "--random-string", "xyz")
	cksum := checksum(refToken, "xyz")
	sawFail, sawDone := false, false
	for attempt := 0; attempt < 40 && !(sawFail && sawDone); attempt++ {
		c := s.dial(t)
		token, bits := c.work()
		c.solve(token, bits)
		for i := 0; ; i++ {
			line, err := c.r.ReadString('\n')
			require.NoError(t, err)
			if line == "FAIL xyz\n" {
				c.expectEnd()
				sawFail = true
				break
			}
			if line == "DONE\n" {
				require.Equal(t, 20, i, "DONE after 20 body requests")
				c.send("OK\n")
				c.expectEnd()
				sawDone = true
				break
			}
			cmd, arg, ok := strings.Cut(line, " ")
			require.True(t, ok, line)
			assert.Contains(t, bodyCommands, cmd)
			assert.Equal(t, "xyz\n", arg)
			c.send(cksum + " v\n")
		}
	}
	assert.True(t, sawFail, "an injected FAIL in 40 sessions (each has a 90% chance)")
	// (8/9)^20 ≈ 9.5%: 40 sessions without a DONE happen 2% of the time;
	// the loop stops as soon as both were seen.
	if !sawDone {
		t.Log("no session reached DONE in 40 tries (expected ~2% of runs)")
	}
}

// Every FAIL line the server can send, byte for byte, each followed by the
// close.
func TestEveryFailLine(t *testing.T) {
	h := newHome(t)
	s := h.startServer(t, "--n_bits", "20", "--other-timeout", "1", "--work-timeout", "1")
	cksum := checksum(refToken, refRandomString)
	tests := []struct {
		name string
		play func(c *conn)
		want string
	}{
		{"bad suffix", func(c *conn) { c.work(); c.send("x\n") }, "FAIL Invalid suffix returned from client.\n"},
		{"line of 1000 characters and its newline", func(c *conn) { c.expect("HELLO\n"); c.send(strings.Repeat("a", 1000) + "\n") }, "FAIL receiving.\n"},
		{"over-long line without newline", func(c *conn) { c.expect("HELLO\n"); c.send(strings.Repeat("a", 1001)) }, "FAIL receiving.\n"},
		{"invalid UTF-8", func(c *conn) { c.expect("HELLO\n"); c.send("HELLO\xffBACK\n") }, "FAIL receiving.\n"},
		{"wrong reply to HELLO", func(c *conn) { c.expect("HELLO\n"); c.send("HI\n") }, "FAIL Invalid reply to HELLO: expected HELLOBACK.\n"},
		{"no reply to HELLO", func(c *conn) { c.expect("HELLO\n") }, "FAIL Timed out waiting for HELLOBACK (--other-timeout).\n"},
		{"no suffix", func(c *conn) { c.work() }, "FAIL Timed out waiting for the WORK suffix (--work-timeout).\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dial(t)
			tc.play(c)
			c.expectFail(tc.want)
		})
	}

	easy := h.startServer(t, "--n_bits", "4", "--other-timeout", "1", "--tutorial")
	c := easy.dial(t)
	token, bits := c.work()
	c.solve(token, bits)
	c.expect("FULL_NAME LGTk\n")
	// The longest line allowed: 1000 bytes with its newline.
	value := strings.Repeat("v", 1000-len(cksum)-2)
	c.send(cksum + " " + value + "\n")
	c.expect("EMAIL1 LGTk\n")
	c.send(strings.Repeat("0", 64) + " v\n")
	c.expectFail("FAIL Invalid checksum received.\n")

	body := h.startServer(t, "--n_bits", "4", "--other-timeout", "1")
	for _, tc := range []struct {
		name string
		send string
		want string
	}{
		{"over-long body reply", cksum + " " + strings.Repeat("v", 1000-len(cksum)-1) + "\n", "FAIL receiving.\n"},
		{"no body reply", "", "FAIL Timed out waiting for a body reply (--other-timeout).\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The first draw is the injected FAIL 1 time in 9: try again.
			for attempt := 0; attempt < 20; attempt++ {
				c := body.dial(t)
				token, bits := c.work()
				c.solve(token, bits)
				line, err := c.r.ReadString('\n')
				require.NoError(t, err)
				if strings.HasPrefix(line, "FAIL ") {
					continue
				}
				c.send(tc.send)
				c.expectFail(tc.want)
				return
			}
			t.Fatal("20 sessions in a row began with the injected FAIL")
		})
	}

	// After DONE: a wrong reply, and none. The tutorial serves one
	// session, so each gets its own server.
	for _, tc := range []struct{ reply, want string }{
		{"NOT OK\n", "FAIL Invalid reply to DONE: expected OK.\n"},
		{"", "FAIL Timed out waiting for OK (--other-timeout).\n"},
	} {
		tut := h.startServer(t, "--n_bits", "4", "--tutorial", "--other-timeout", "1")
		c := tut.dial(t)
		token, bits := c.work()
		c.solve(token, bits)
		for _, cmd := range bodyCommands {
			c.expect(cmd + " LGTk\n")
			c.send(cksum + " v\n")
		}
		c.expect("DONE\n")
		if tc.reply != "" {
			c.send(tc.reply)
		}
		c.expectFail(tc.want)
	}

	stop := h.startServer(t, "--n_bits", "30", "--drain-timeout", "0s")
	c = stop.dial(t)
	c.work()
	stop.Signal(syscall.SIGTERM)
	c.expectFail("FAIL Server shutting down.\n")
	assert.Equal(t, 0, stop.ExitCode(bound))
}
