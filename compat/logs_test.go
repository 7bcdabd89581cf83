package compat

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func itoa(n int) string { return strconv.Itoa(n) }

// A tutorial run of server and client leaves exactly the reference's log
// files, line for line; the server's is rewritten on each run.
func TestTutorialLogsLineForLine(t *testing.T) {
	h := newHome(t)
	require.NoError(t, os.MkdirAll(h.state+"/tlslp/logs", 0o755))
	require.NoError(t, os.WriteFile(h.logFile("client.log"), []byte("an older run\n"), 0o644))
	s := h.startServer(t, "--tutorial", "--n_bits", "8")
	closed := closedPort(t)
	code, stdout, clientErr := h.run(t, "client", "--tutorial", "--ports", itoa(closed)+","+itoa(s.port), "--quiet")
	require.Equal(t, 0, code, clientErr)
	assert.Contains(t, stdout, "session completed")
	require.Equal(t, 0, s.ExitCode(bound))
	assert.Empty(t, s.Text(), "nothing at WARNING or above")

	server := []string{
		"Server starting",
		"Server listening on https://'127.0.0.1':" + itoa(s.port),
		"Connection from address: '127.0.0.1'",
		"Step: handshake",
		"Step: 'full_name'", "Received 'Ada Lovelace'",
		"Step: 'email1'", "Received 'ada@example.com'",
		"Step: 'email2'", "Received 'ada.lovelace@example.org'",
		"Step: 'social'", "Received '@ada'",
		"Step: 'birthdate'", "Received '1815-12-10'",
		"Step: 'country'", "Received 'United Kingdom'",
		"Step: 'addr_line1'", `Received "12 St James's Square"`,
		"Step: 'addr_line2'", "Received 'London SW1Y 4JH'",
		"Step: done",
		"Received 'OK'",
		"Connection closed",
	}
	data, err := os.ReadFile(h.logFile("server.log"))
	require.NoError(t, err)
	assert.Equal(t, lines("INFO tlslp.server", server), string(data))

	cksum := checksum(refToken, refRandomString)
	answers := []string{"Ada Lovelace", "ada@example.com", "ada.lovelace@example.org", "@ada", "1815-12-10", "United Kingdom", "12 St James's Square", "London SW1Y 4JH"}
	client := []string{
		"Connected to " + itoa(s.port),
		"Received 'HELLO'", `Sending to server: 'HELLOBACK\n'`,
		"Received 'WORK " + refToken + " 8'", "SUFFIX",
	}
	for i, cmd := range bodyCommands {
		client = append(client, "Received '"+cmd+" LGTk'", "Sending to server: "+pyRepr(cksum+" "+answers[i]+"\n"))
	}
	client = append(client, "Received 'DONE'", `Sending to server: 'OK\n'`, "Connection closed.")
	warning := tutorialTime + " WARNING tlslp.client: Can't connect to 'localhost':" + itoa(closed) + ": Failed to connect to localhost:" + itoa(closed) + "\n"
	data, err = os.ReadFile(h.logFile("client.log"))
	require.NoError(t, err)
	got := regexp.MustCompile(`(Sending to server: )'[0-9A-Za-z_-]+\\n'\n(`+regexp.QuoteMeta(tutorialTime)+` INFO tlslp.client: Received 'FULL_NAME)`).
		ReplaceAllString(string(data), "${1}SUFFIX\n${2}")
	got = strings.Replace(got, "INFO tlslp.client: Sending to server: SUFFIX", "INFO tlslp.client: SUFFIX", 1)
	assert.Equal(t, warning+lines("INFO tlslp.client", client), got, "the file is rewritten in --tutorial")
	assert.Equal(t, warning, clientErr, "WARNING lines go to stderr too")

	// A second tutorial run leaves only its own lines.
	s = h.startServer(t, "--tutorial", "--n_bits", "8")
	code, _, clientErr = h.run(t, "client", "--tutorial", "--ports", itoa(s.port), "--quiet")
	require.Equal(t, 0, code, clientErr)
	require.Equal(t, 0, s.ExitCode(bound))
	data, err = os.ReadFile(h.logFile("server.log"))
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(data), "Server starting"))
}

func lines(prefix string, msgs []string) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(tutorialTime + " " + prefix + ": " + m + "\n")
	}
	return b.String()
}

// pyRepr is Python's repr() for the printable ASCII these values hold.
func pyRepr(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	if q == "'" {
		s = strings.ReplaceAll(s, "'", `\'`)
	}
	return q + strings.ReplaceAll(s, "\n", `\n`) + q
}

// Outside the tutorial the reference log is appended to; logrotate can
// move it away and SIGHUP makes the server start a new one.
func TestReferenceLogReopensOnSIGHUP(t *testing.T) {
	h := newHome(t)
	s := h.startServer(t, "--n_bits", "4")
	rotated := h.logFile("server.log.1")
	require.NoError(t, os.Rename(h.logFile("server.log"), rotated))
	s.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(bound)
	for {
		if _, err := os.Stat(h.logFile("server.log")); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "no new server.log after SIGHUP")
		time.Sleep(20 * time.Millisecond)
	}
	c := s.dial(t)
	c.work()
	require.NoError(t, c.c.Close())
	for {
		data, _ := os.ReadFile(h.logFile("server.log"))
		if strings.Contains(string(data), "Connection closed") {
			assert.Contains(t, string(data), "Connection from address: '127.0.0.1'")
			assert.NotContains(t, string(data), "Server starting")
			break
		}
		require.True(t, time.Now().Before(deadline), "the session's lines did not reach the new file: %q", data)
		time.Sleep(20 * time.Millisecond)
	}
	old, err := os.ReadFile(rotated)
	require.NoError(t, err)
	assert.Contains(t, string(old), "Server starting")
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} INFO tlslp.server: Server starting\n`, string(old), "real time outside the tutorial")
}
