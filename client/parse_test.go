package client

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		line string
		want Request
		err  bool
	}{
		{line: "HELLO", want: Request{Kind: KindHello}},
		{line: "DONE", want: Request{Kind: KindDone}},
		{line: "WORK abc 28", want: Request{Kind: KindWork, Token: "abc", NBits: 28}},
		{line: "WORK abc 0", want: Request{Kind: KindWork, Token: "abc", NBits: 0}},
		{line: "WORK abc 64", want: Request{Kind: KindWork, Token: "abc", NBits: 64}},
		{line: "FULL_NAME LGTk", want: Request{Kind: KindBody, Command: "FULL_NAME", Arg: "LGTk"}},
		{line: "ADDR_LINE2 a b", want: Request{Kind: KindBody, Command: "ADDR_LINE2", Arg: "a b"}},
		{line: "EMAIL1 ", want: Request{Kind: KindBody, Command: "EMAIL1", Arg: ""}},
		{line: "FAIL LGTk", want: Request{Kind: KindFail, Arg: "LGTk"}},
		{line: "FAIL Invalid checksum received.", want: Request{Kind: KindFail, Arg: "Invalid checksum received."}},
		{line: "FAIL", want: Request{Kind: KindFail}},
		{line: "", err: true},
		{line: "HELLO ", err: true},
		{line: "hello", err: true},
		{line: "DONE now", err: true},
		{line: "WORK", err: true},
		{line: "WORK abc", err: true},
		{line: "WORK  28", err: true},
		{line: "WORK abc 65", err: true},
		{line: "WORK abc -1", err: true},
		{line: "WORK abc +8", err: true},
		{line: "WORK abc 08", err: true},
		{line: "WORK abc 8 9", err: true},
		{line: "WORK abc x", err: true},
		{line: "FULL_NAME", err: true},
		{line: "NICKNAME x", err: true},
		{line: "FULL_NAME " + strings.Repeat("x", 1000), err: true},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			got, err := ParseRequest(tc.line)
			if tc.err {
				require.ErrorIs(t, err, ErrBadRequest)
				return
			}
			require.NoError(t, err)
			tc.want.Line = tc.line
			assert.Equal(t, tc.want, got)
		})
	}
}

func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"HELLO", "WORK tok 8", "FULL_NAME LGTk", "FAIL x", "DONE", "WORK a 99", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRequest(line)
		if err != nil {
			if r.Kind != 0 {
				t.Fatalf("error with kind %v for %q", r.Kind, line)
			}
			return
		}
		if r.Line != line {
			t.Fatalf("Line %q != input %q", r.Line, line)
		}
		// Re-serialising a parsed request must give the line back: the
		// parser neither drops nor invents bytes.
		var back string
		switch r.Kind {
		case KindHello:
			back = "HELLO"
		case KindDone:
			back = "DONE"
		case KindWork:
			back = "WORK " + r.Token + " " + strconv.Itoa(r.NBits)
			if r.NBits < 0 || r.NBits > 64 || strings.Contains(r.Token, " ") {
				t.Fatalf("bad WORK parse %+v", r)
			}
		case KindBody:
			back = r.Command + " " + r.Arg
		case KindFail:
			back = "FAIL"
			if line != "FAIL" {
				back += " " + r.Arg
			}
		default:
			t.Fatalf("no kind for %q", line)
		}
		if back != line {
			t.Fatalf("round trip %q -> %+v -> %q", line, r, back)
		}
	})
}
