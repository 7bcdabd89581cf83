package eventloop

import (
	"encoding/hex"
	"time"

	"github.com/rs/zerolog"

	"tlslpd/statemachine"
)

// Record is what a finished session leaves behind: the reason the server
// exists. OnRecord receives it on the loop; it must not keep Replies'
// backing array beyond the call unless it copies.
type Record struct {
	Remote       string               `json:"remote"`
	Subject      string               `json:"subject,omitempty"`
	Fingerprint  string               `json:"fingerprint,omitempty"`
	TLSVersion   string               `json:"tls_version,omitempty"`
	Resumed      bool                 `json:"resumed"`
	Outcome      string               `json:"outcome"`
	LastStep     string               `json:"last_step"`
	FailLine     string               `json:"fail_line,omitempty"`
	Start        time.Time            `json:"start"`
	Duration     time.Duration        `json:"duration_ns"`
	WorkDuration time.Duration        `json:"work_duration_ns"`
	NBits        int                  `json:"n_bits"`
	Token        string               `json:"token"`
	Replies      []statemachine.Reply `json:"replies"`
}

// MarshalZerologObject writes the record as log fields.
func (r *Record) MarshalZerologObject(e *zerolog.Event) {
	e.Str("remote", r.Remote).
		Str("outcome", r.Outcome).
		Str("last_step", r.LastStep).
		Dur("duration", r.Duration).
		Dur("work_duration", r.WorkDuration).
		Int("n_bits", r.NBits).
		Bool("resumed", r.Resumed)
	if r.Subject != "" {
		e.Str("subject", r.Subject).Str("fingerprint", r.Fingerprint)
	}
	if r.TLSVersion != "" {
		e.Str("tls_version", r.TLSVersion)
	}
	if r.FailLine != "" {
		e.Str("fail_line", r.FailLine)
	}
	if len(r.Replies) > 0 {
		// An array, not an object: normal mode may ask a command twice and
		// both answers count.
		e.Array("values", replies(r.Replies))
	}
}

type replies []statemachine.Reply

func (rs replies) MarshalZerologArray(a *zerolog.Array) {
	for _, r := range rs {
		a.Dict(zerolog.Dict().Str("command", r.Command).Str("value", r.Value))
	}
}

func fingerprintHex(fp [32]byte) string { return hex.EncodeToString(fp[:]) }
