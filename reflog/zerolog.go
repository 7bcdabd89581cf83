package reflog

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/rs/zerolog"
)

// ZerologWriter renders tlslpd's own zerolog events as reference-format
// lines ("<message> key=value ..."), so in the reference log mode stderr
// and the log file carry one format. Give it to a logger at Warning or
// above: it decodes each event, which is fine for the rare warnings and
// not meant for per-session lines.
func (l *Logger) ZerologWriter() io.Writer { return zerologWriter{l} }

type zerologWriter struct{ l *Logger }

func (w zerologWriter) Write(p []byte) (int, error) {
	var ev map[string]any
	if err := json.Unmarshal(p, &ev); err != nil {
		w.l.Log(Error, strings.TrimSpace(string(p)))
		return len(p), nil
	}
	level := Info
	if s, ok := ev[zerolog.LevelFieldName].(string); ok {
		switch s {
		case "trace", "debug":
			level = Debug
		case "warn":
			level = Warning
		case "error":
			level = Error
		case "fatal", "panic":
			level = Critical
		}
	}
	msg, _ := ev[zerolog.MessageFieldName].(string)
	delete(ev, zerolog.LevelFieldName)
	delete(ev, zerolog.MessageFieldName)
	delete(ev, zerolog.TimestampFieldName)
	keys := make([]string, 0, len(ev))
	for k := range ev {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(msg)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, ev[k])
	}
	w.l.Log(level, strings.ReplaceAll(b.String(), "\n", `\n`))
	return len(p), nil
}
