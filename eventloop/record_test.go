package eventloop

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testlog"
	"tlslpd/statemachine"
)

func TestAppendSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{2 * time.Second, "2"},
		{1500 * time.Millisecond, "1.5"},
		{250*time.Microsecond + 1, "0.000250001"},
		{time.Nanosecond, "0.000000001"},
		{98*time.Second + 199989286*time.Nanosecond, "98.199989286"},
		{-1500 * time.Millisecond, "-1.5"},
	} {
		got := string(appendSeconds(nil, tc.d))
		assert.Equal(t, tc.want, got, "%v", tc.d)
		var f float64
		require.NoError(t, json.Unmarshal([]byte(got), &f), "a JSON number")
		assert.InDelta(t, tc.d.Seconds(), f, 1e-12)
	}
}

// The log event and the records file must name and measure the same
// things the same way: one encoder, checked here field by field.
func TestRecordLogEventAndJSONAgree(t *testing.T) {
	rec := &Record{
		Remote: "127.0.0.1:5000", Transport: "wss", Subject: "CN=client", Fingerprint: "ab12", ServerName: "tlslpd.test", TLSVersion: "TLS 1.3",
		Resumed: true, Outcome: "failed", LastStep: "work", FailLine: "FAIL bad suffix",
		Start:    time.Date(2026, 11, 25, 14, 0, 0, 123456789, time.FixedZone("X", 3600)),
		Duration: 1234567890 * time.Nanosecond, WorkDuration: 250 * time.Millisecond,
		NBits: 8, Token: "AUTH", Replies: []statemachine.Reply{{Command: "MAILNUM", Value: "2"}, {Command: "MAILNUM", Value: "3"}},
	}
	var logged bytes.Buffer
	l := zerolog.New(&logged).With().Timestamp().Logger()
	l.Info().EmbedObject(rec).Msg("session finished")
	var fromLog map[string]any
	require.NoError(t, json.Unmarshal(logged.Bytes(), &fromLog))
	for _, k := range []string{"level", "time", "message"} {
		delete(fromLog, k)
	}

	line, err := json.Marshal(rec)
	require.NoError(t, err)
	var fromRecord map[string]any
	require.NoError(t, json.Unmarshal(line, &fromRecord))

	assert.Equal(t, fromRecord, fromLog)
	assert.Equal(t, map[string]any{
		"remote": "127.0.0.1:5000", "transport": "wss", "subject": "CN=client", "fingerprint": "ab12", "server_name": "tlslpd.test", "tls_version": "TLS 1.3",
		"resumed": true, "outcome": "failed", "last_step": "work", "fail_line": "FAIL bad suffix",
		"start": "2026-11-25T13:00:00.123456789Z", "duration_seconds": 1.23456789, "work_duration_seconds": 0.25,
		"n_bits": 8.0, "token": "AUTH",
		"replies": []any{map[string]any{"command": "MAILNUM", "value": "2"}, map[string]any{"command": "MAILNUM", "value": "3"}},
	}, fromRecord)
}

func TestRecordFieldsListsTheEncodersOrder(t *testing.T) {
	line, err := json.Marshal(&Record{Transport: "tcp", Subject: "s", Fingerprint: "f", ServerName: "n", TLSVersion: "v", FailLine: "FAIL x"})
	require.NoError(t, err)
	assert.Equal(t, RecordFields(), testlog.Keys(t, line))
}

func TestRecordOmitsAbsentPeerFields(t *testing.T) {
	line, err := json.Marshal(&Record{Remote: "[::1]:1", Outcome: "timeout", LastStep: "hello"})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(line, &m))
	for _, k := range []string{"subject", "fingerprint", "server_name", "tls_version", "fail_line"} {
		assert.NotContains(t, m, k)
	}
	assert.Equal(t, []any{}, m["replies"], "replies is always an array")
}
