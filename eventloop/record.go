package eventloop

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"tlslpd/statemachine"
)

// Record is what a finished session leaves behind: the reason the server
// exists. OnRecord receives it on the loop; it must not keep Replies'
// backing array beyond the call unless it copies.
//
// MarshalZerologObject is the one encoding of a record: the "session
// finished" log event and the records file (MarshalJSON) both use it, so
// they carry the same fields under the same names and units. The schema
// is documented in the README ("Session records"); durations are seconds,
// as in the Prometheus metrics.
type Record struct {
	Remote       string
	Transport    string // tls, tcp, ws or wss (auto listeners: what the client chose)
	Subject      string // client certificate subject; may be empty even with one
	Fingerprint  string // hex SHA-256 of the client certificate; empty without one
	ServerName   string // the server name the client asked for (SNI), which chose the certificate
	TLSVersion   string
	Resumed      bool
	Outcome      string // the tlslpd_sessions_finished_total outcome label
	LastStep     string // the tlslpd_step_duration_seconds step label
	FailLine     string
	Start        time.Time
	Duration     time.Duration
	WorkDuration time.Duration
	NBits        int
	Token        string
	Replies      []statemachine.Reply
}

// MarshalZerologObject writes the record's fields in a fixed order.
func (r *Record) MarshalZerologObject(e *zerolog.Event) {
	var buf [64]byte
	e.Str("remote", r.Remote)
	if r.Transport != "" {
		e.Str("transport", r.Transport)
	}
	if r.Fingerprint != "" {
		// The fingerprint is the identity; the subject is what the
		// client says about itself (often empty in a transient one).
		e.Str("subject", r.Subject).Str("fingerprint", r.Fingerprint)
	}
	if r.ServerName != "" {
		e.Str("server_name", r.ServerName)
	}
	if r.TLSVersion != "" {
		e.Str("tls_version", r.TLSVersion)
	}
	e.Bool("resumed", r.Resumed).
		Str("outcome", r.Outcome).
		Str("last_step", r.LastStep)
	if r.FailLine != "" {
		e.Str("fail_line", r.FailLine)
	}
	e.RawJSON("start", appendTime(buf[:0], r.Start)).
		RawJSON("duration_seconds", appendSeconds(buf[:0], r.Duration)).
		RawJSON("work_duration_seconds", appendSeconds(buf[:0], r.WorkDuration)).
		Int("n_bits", r.NBits).
		Str("token", r.Token).
		// An array, not an object: normal mode may ask a command twice
		// and both answers count.
		Array("replies", replies(r.Replies))
}

// RecordFields names the record's fields in the order
// MarshalZerologObject writes them, for a console log, which would
// otherwise sort them by name.
func RecordFields() []string {
	return []string{"remote", "transport", "subject", "fingerprint", "server_name", "tls_version", "resumed", "outcome", "last_step",
		"fail_line", "start", "duration_seconds", "work_duration_seconds", "n_bits", "token", "replies"}
}

// MarshalJSON encodes the record exactly as the log event carries it.
func (r *Record) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	l := zerolog.New(&b)
	l.Log().EmbedObject(r).Send()
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

type replies []statemachine.Reply

func (rs replies) MarshalZerologArray(a *zerolog.Array) {
	for _, r := range rs {
		a.Dict(zerolog.Dict().Str("command", r.Command).Str("value", r.Value))
	}
}

// appendSeconds writes d as a JSON number of seconds, exact to the
// nanosecond and without float noise: 1.5, 0.000250001, 2.
func appendSeconds(dst []byte, d time.Duration) []byte {
	if d < 0 {
		dst = append(dst, '-')
		d = -d
	}
	dst = strconv.AppendInt(dst, int64(d/time.Second), 10)
	frac := int64(d % time.Second)
	if frac == 0 {
		return dst
	}
	// frac+1e9 has exactly ten digits: "1" and the nine fraction digits.
	dst = strconv.AppendInt(append(dst, '.'), frac+int64(time.Second), 10)
	dot := bytes.LastIndexByte(dst, '.')
	dst = append(dst[:dot+1], dst[dot+2:]...)
	return bytes.TrimRight(dst, "0")
}

// appendTime writes t as a JSON string in UTC, RFC 3339 with nanoseconds.
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func fingerprintHex(fp [32]byte) string { return hex.EncodeToString(fp[:]) }
