package testbin

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/internal/testfail"
)

// failure runs fn with a stand-in for t and returns what fn failed it
// with ("" if it did not).
func failure(t *testing.T, fn func(tb testing.TB)) string {
	return testfail.Run(t, fn).Message
}

func sh(script string) *exec.Cmd { return exec.Command("sh", "-c", script) }

func TestStartReadsTheServingLine(t *testing.T) {
	// The line comes in two writes, after a line that is not JSON.
	p := Start(t, sh(`echo 'plain text' >&2
		printf '{"message":"tlslpd serving","listen":["127.0.0.1:1","[::1]:2"],' >&2
		sleep 0.1
		echo '"metrics":"http://127.0.0.1:3/metrics"}' >&2
		exec sleep 30`), 10*time.Second)
	assert.Equal(t, []string{"127.0.0.1:1", "[::1]:2"}, p.Listen)
	assert.Equal(t, "http://127.0.0.1:3/metrics", p.Metrics)
	require.Len(t, p.Events(), 1, "only JSON lines are events")
	assert.Contains(t, p.Text(), "plain text\n")
	select {
	case <-p.Exited():
		t.Fatal("the process ended early")
	default:
	}
}

func TestLastLinesBeforeExitAreKept(t *testing.T) {
	p := Launch(t, sh(`echo '{"message":"one"}' >&2; echo '{"message":"two","n":2}' >&2; exit 3`))
	assert.Equal(t, 3, p.ExitCode(10*time.Second))
	assert.Equal(t, 2.0, p.Logged("two", time.Millisecond)["n"])
	assert.Len(t, p.Events(), 2)
}

func TestStartFailsWithTheStderrOfAProcessThatDoesNotServe(t *testing.T) {
	msg := failure(t, func(tb testing.TB) {
		Start(tb, sh(`echo 'bad flag --nope' >&2; exit 2`), 10*time.Second)
	})
	assert.Contains(t, msg, "exited before serving")
	assert.Contains(t, msg, "bad flag --nope")

	msg = failure(t, func(tb testing.TB) {
		p := Launch(tb, sh(`echo '{"message":"starting"}' >&2; exec sleep 30`))
		p.Logged("starting", 10*time.Second) // however slow the machine, it is in the message
		p.WaitServing(200 * time.Millisecond)
	})
	assert.Contains(t, msg, "did not start serving within 200ms")
	assert.Contains(t, msg, `"starting"`)
}

func TestLoggedAndExitCodeFailWhenNothingComes(t *testing.T) {
	launch := func(tb testing.TB) *Proc {
		p := Launch(tb, sh(`echo '{"message":"other"}' >&2; exec sleep 30`))
		p.Logged("other", 10*time.Second)
		return p
	}
	msg := failure(t, func(tb testing.TB) { launch(tb).Logged("wanted", 100*time.Millisecond) })
	assert.Contains(t, msg, `no log "wanted"`)
	assert.Contains(t, msg, `"other"`)
	msg = failure(t, func(tb testing.TB) { launch(tb).ExitCode(100 * time.Millisecond) })
	assert.Contains(t, msg, "still running")
}

func TestHomeHoldsTheCertificatesWhereTheBinaryLooks(t *testing.T) {
	dir, pki := Home(t)
	require.NotNil(t, pki)
	for _, name := range []string{certs.CACertFile, certs.ServerCertFile, certs.ServerKeyFile, certs.ClientCertFile, certs.ClientKeyFile} {
		assert.FileExists(t, filepath.Join(dir, "certificates", name))
	}
}

func TestBinaryFailsWithGoBuildsOutput(t *testing.T) {
	msg := failure(t, func(tb testing.TB) { Binary(tb, Build{Flags: []string{"-no-such-flag"}}) })
	assert.Contains(t, msg, "testbin: go [build -no-such-flag")
	assert.Contains(t, msg, "no-such-flag", "go build's own words")
}
