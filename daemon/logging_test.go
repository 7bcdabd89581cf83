package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/config"
	"tlslpd/internal/testbin"
	"tlslpd/internal/testlog"
	"tlslpd/logsink"
	"tlslpd/metrics"
)

func TestLogFormat(t *testing.T) {
	tests := []struct {
		name            string
		flag            string
		terminal, color bool
		wantJSON        bool
		wantColor       bool
	}{
		{"default on a terminal: console, coloured", "", true, true, false, true},
		{"default elsewhere: JSON", "", false, false, true, false},
		{"console into a file: no colour codes", "console", false, false, false, false},
		{"console on a terminal under NO_COLOR", "console", true, false, false, false},
		{"json on a terminal", "json", true, true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			l, err := NewLogger(config.Server{LogFormat: tc.flag, LogLevel: "INFO"}, &out, tc.terminal, tc.color)
			require.NoError(t, err)
			l.Warn().Str("remote", "127.0.0.1:1").Msg("hello")
			line := out.String()
			assert.Equal(t, tc.wantJSON, json.Valid([]byte(line)), line)
			assert.Equal(t, tc.wantColor, strings.Contains(line, "\x1b["), "%q", line)
			assert.Contains(t, line, "hello")
		})
	}
}

// The binary writes no colour codes with --log-format console when its
// stderr is a file.
func TestConsoleLogIntoAFileHasNoColour(t *testing.T) {
	dir, _ := testbin.Home(t)
	logPath := filepath.Join(dir, "stderr.log")
	f, err := os.Create(logPath)
	require.NoError(t, err)
	defer f.Close()
	cmd := exec.Command(binary, "--log-format", "console", "--listen", "127.0.0.1:0", "--status-interval", "0", "--n_bits", "4")
	cmd.Dir = dir
	cmd.Stderr = f
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(bound)
	var data []byte
	for time.Now().Before(deadline) {
		data, _ = os.ReadFile(logPath)
		if bytes.Contains(data, []byte("serving")) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	_ = cmd.Wait()
	data, _ = os.ReadFile(logPath)
	require.Contains(t, string(data), "serving", "console log lines: %s", data)
	assert.NotContains(t, string(data), "\x1b[", "colour codes in a file")
	assert.False(t, json.Valid(bytes.SplitN(data, []byte("\n"), 2)[0]), "console format, not JSON")
}

func TestStatusLineFieldsAndRounding(t *testing.T) {
	var out bytes.Buffer
	d := &Daemon{}
	last := metrics.Snapshot{Handshakes: 10, PoWChecks: 0, Finished: 3}
	cur := metrics.Snapshot{Open: 5, Active: map[string]float64{"work": 2, "hello": 1}, Handshakes: 10 + 982.0001, PoWChecks: 1, Finished: 3 + 100.0/3,
		Refused: 20, Shed: 1234, HandshakesFailed: 7}
	for range 2 {
		l := zerolog.New(&out)
		ev := l.Info()
		d.statusFields(ev, last, cur, 10*time.Second)
		ev.Msg("status")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, lines[0], lines[1], "same fields, same order")
	assert.Equal(t, statusFieldNames()[:8], testlog.Keys(t, []byte(lines[0]))[1:9], "statusFieldNames is in step")
	assert.Equal(t, `{"level":"info","connections_open":5,"sessions_active_hello":1,"sessions_active_work":2,"sessions_active_body":0,"sessions_active_done":0,`+
		`"tls_handshakes_per_second":98.2,"pow_checks_per_second":0.1,"sessions_finished_per_second":3.3,`+
		`"connections_refused_per_second":2,"connections_shed_per_second":123.4,"tls_handshakes_failed_per_second":0.7,"message":"status"}`, lines[0])
}

func TestConsoleKeepsTheStatusOrder(t *testing.T) {
	var out bytes.Buffer
	l, err := NewLogger(config.Server{LogFormat: "console", LogLevel: "INFO"}, &out, false, false)
	require.NoError(t, err)
	ev := l.Info()
	(&Daemon{}).statusFields(ev, metrics.Snapshot{}, metrics.Snapshot{}, time.Second)
	ev.Msg("status")
	line := out.String()
	last := -1
	for _, k := range statusFieldNames()[:8] {
		i := strings.Index(line, k+"=")
		require.GreaterOrEqual(t, i, 0, "%s in %q", k, line)
		assert.Greater(t, i, last, "%s out of order in %q", k, line)
		last = i
	}
}

// A status line after lines were dropped is a warning; the next one,
// with no new drops, is back to INFO.
func TestStatusWarnsAfterDrops(t *testing.T) {
	out := &testlog.Buffer{}
	gate := make(chan struct{})
	defer close(gate)
	stuck := logsink.New(blockedWriter(gate), logsink.Options{FlushInterval: time.Millisecond, MaxPending: 10})
	d := &Daemon{log: zerolog.New(out), met: metrics.New(), logs: stuck}
	d.cfg.StatusInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); d.status(ctx) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), `"message":"status"`) }, 10*time.Second, time.Millisecond)
	for range 5 {
		_, _ = stuck.Write([]byte("this line does not fit in ten bytes\n"))
	}
	require.Positive(t, stuck.Dropped())
	require.Eventually(t, func() bool {
		s := out.String()
		i := strings.Index(s, `{"level":"warn"`)
		return i >= 0 && strings.Contains(s[i+1:], `{"level":"info"`)
	}, 10*time.Second, time.Millisecond, "a warning, then INFO again: %s", out)
	cancel()
	<-done
	assert.Contains(t, out.String(), `"log_lines_dropped":5`)
}

type blockedWriter chan struct{}

func (b blockedWriter) Write(p []byte) (int, error) {
	<-b
	return len(p), nil
}
