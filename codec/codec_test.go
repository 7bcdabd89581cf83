package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// collect decodes chunks in order and returns the lines and the first error.
func collect(d *Decoder, chunks ...string) ([]string, error) {
	var lines []string
	for _, c := range chunks {
		err := d.Decode([]byte(c), func(line []byte) error {
			lines = append(lines, string(line))
			return nil
		})
		if err != nil {
			return lines, err
		}
	}
	return lines, nil
}

func TestDecode(t *testing.T) {
	long := strings.Repeat("a", 999) // 1000 bytes with its newline: the longest allowed
	tests := []struct {
		name     string
		chunks   []string
		want     []string
		wantErr  error
		buffered int
	}{
		{name: "one line", chunks: []string{"HELLOBACK\n"}, want: []string{"HELLOBACK"}},
		{name: "empty line", chunks: []string{"\n"}, want: []string{""}},
		{name: "several lines in one chunk", chunks: []string{"a\nb\nc\n"}, want: []string{"a", "b", "c"}},
		{name: "partial then rest", chunks: []string{"HEL", "LOBA", "CK\n"}, want: []string{"HELLOBACK"}},
		{name: "line and a partial", chunks: []string{"a\nbc"}, want: []string{"a"}, buffered: 2},
		{name: "partial completes with next lines", chunks: []string{"ab", "c\nd\ne"}, want: []string{"abc", "d"}, buffered: 1},
		{name: "carriage return is content", chunks: []string{"OK\r\n"}, want: []string{"OK\r"}},
		{name: "exactly the limit", chunks: []string{long + "\n"}, want: []string{long}},
		{name: "reference: 1000 characters and newline are 1001 bytes", chunks: []string{strings.Repeat("x", 1000) + "\n"}, wantErr: ErrLineTooLong},
		{name: "exactly the limit across chunks", chunks: []string{long[:500], long[500:], "\n"}, want: []string{long}},
		{name: "one past the limit without newline", chunks: []string{long + "b"}, wantErr: ErrLineTooLong},
		{name: "one past the limit across chunks", chunks: []string{long, "b"}, wantErr: ErrLineTooLong},
		{name: "one past the limit with newline", chunks: []string{long + "b\n"}, wantErr: ErrLineTooLong},
		{name: "past the limit when the partial completes", chunks: []string{long[:998], "bb\n"}, wantErr: ErrLineTooLong},
		{name: "lines before an over-long line are delivered", chunks: []string{"ok\n" + long + "x"}, want: []string{"ok"}, wantErr: ErrLineTooLong},
		{name: "invalid utf-8", chunks: []string{"ab\xffc\n"}, wantErr: ErrInvalidUTF8},
		{name: "truncated utf-8 sequence", chunks: []string{"\xe2\x82\n"}, wantErr: ErrInvalidUTF8},
		{name: "utf-8 split across chunks", chunks: []string{"caf\xc3", "\xa9\n"}, want: []string{"café"}},
		{name: "multibyte text", chunks: []string{"Zoë Ñúñez 東京\n"}, want: []string{"Zoë Ñúñez 東京"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			lines, err := collect(&d, tc.chunks...)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				// Sticky: later input gets the same error and no lines.
				more, again := collect(&d, "x\n")
				require.ErrorIs(t, again, tc.wantErr)
				assert.Empty(t, more)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.buffered, d.Buffered())
			}
			assert.Equal(t, tc.want, lines)
		})
	}
}

func TestDecodeCustomLimit(t *testing.T) {
	d := Decoder{MaxLineLength: 4} // counting the newline
	lines, err := collect(&d, "abc\n")
	require.NoError(t, err)
	assert.Equal(t, []string{"abc"}, lines)
	_, err = collect(&d, "abcd")
	require.ErrorIs(t, err, ErrLineTooLong)
}

func TestEmitErrorStops(t *testing.T) {
	stop := errors.New("stop")
	var d Decoder
	var seen []string
	err := d.Decode([]byte("a\nb\nc\n"), func(line []byte) error {
		seen = append(seen, string(line))
		if string(line) == "b" {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	assert.Equal(t, []string{"a", "b"}, seen)
}

func TestResetClearsState(t *testing.T) {
	var d Decoder
	_, err := collect(&d, "\xff\n")
	require.Error(t, err)
	d.Reset()
	lines, err := collect(&d, "ok\n")
	require.NoError(t, err)
	assert.Equal(t, []string{"ok"}, lines)
}

func TestLargePartialBufferIsReleased(t *testing.T) {
	var d Decoder
	_, err := collect(&d, strings.Repeat("x", 500), "\n")
	require.NoError(t, err)
	assert.Zero(t, cap(d.partial), "an idle decoder must not hold a grown buffer")
}

func TestDecodeWholeLinesDoesNotAllocate(t *testing.T) {
	var d Decoder
	input := []byte("HELLOBACK\nabcdefghijkl\n0123456789abcdef value here\n")
	n := 0
	emit := func(line []byte) error { n += len(line); return nil }
	allocs := testing.AllocsPerRun(100, func() {
		require.NoError(t, d.Decode(input, emit))
	})
	assert.Zero(t, allocs)
	assert.Positive(t, n)
}

// FuzzDecode checks that chunking never changes the result: decoding a
// stream in arbitrary pieces yields the same lines and error class as a
// straightforward split of the whole stream.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("HELLOBACK\nsuffix\n"), uint8(3))
	f.Add([]byte("a\xffb\n"), uint8(1))
	f.Add(bytes.Repeat([]byte("z"), 1002), uint8(7))
	f.Add([]byte("caf\xc3\xa9\n\n\n"), uint8(4))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		wantLines, wantErr := referenceSplit(stream, 999)

		var d Decoder
		var got []string
		var err error
		chunk := int(step%16) + 1
		for off := 0; off < len(stream) && err == nil; off += chunk {
			end := min(off+chunk, len(stream))
			err = d.Decode(stream[off:end], func(line []byte) error {
				got = append(got, string(line))
				return nil
			})
		}
		if wantErr == nil {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, wantErr)
		}
		require.Equal(t, wantLines, got)
	})
}

// referenceSplit is the obvious whole-stream splitter the decoder must
// agree with.
func referenceSplit(stream []byte, limit int) ([]string, error) {
	var lines []string
	for {
		i := bytes.IndexByte(stream, '\n')
		if i < 0 {
			if len(stream) > limit {
				return lines, ErrLineTooLong
			}
			return lines, nil
		}
		line := stream[:i]
		if len(line) > limit {
			return lines, ErrLineTooLong
		}
		if !utf8.Valid(line) {
			return lines, ErrInvalidUTF8
		}
		lines = append(lines, string(line))
		stream = stream[i+1:]
	}
}

func BenchmarkDecodeLines(b *testing.B) {
	input := []byte("FULL_NAME LGTk\n" + strings.Repeat("0123456789abcdef", 4) + " Zoë Ñúñez\n")
	var d Decoder
	n := 0
	emit := func(line []byte) error { n++; return nil }
	b.ReportAllocs()
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		if err := d.Decode(input, emit); err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		b.Fatal("no lines")
	}
}

func BenchmarkDecodeBytewise(b *testing.B) {
	input := []byte(strings.Repeat("0123456789abcdef", 4) + " value\n")
	var d Decoder
	emit := func(line []byte) error { return nil }
	b.ReportAllocs()
	b.SetBytes(int64(len(input)))
	for b.Loop() {
		for i := range input {
			if err := d.Decode(input[i:i+1], emit); err != nil {
				b.Fatal(err)
			}
		}
	}
}
