package proxyproto

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	src4 = netip.MustParseAddrPort("203.0.113.7:51234")
	dst4 = netip.MustParseAddrPort("192.0.2.1:1234")
	src6 = netip.MustParseAddrPort("[2001:db8::7]:51234")
	dst6 = netip.MustParseAddrPort("[2001:db8::1]:1234")
)

func v2(verCmd, fam byte, body []byte) []byte {
	b := append([]byte(nil), sigV2...)
	b = append(b, verCmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}

func TestParse(t *testing.T) {
	tls := []byte{0x16, 0x03, 0x01, 0x00, 0x05}
	withTLV := v2(0x21, 0x11, append(AppendV2(nil, src4, dst4)[16:], 0x04, 0x00, 0x02, 'h', 'i'))
	tests := []struct {
		name    string
		in      []byte
		want    Header
		n       int
		wantErr error
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 51234 1234\r\nrest"), Header{1, Proxy, src4, dst4}, 45, nil},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 51234 1234\r\n"), Header{1, Proxy, src6, dst6}, 47, nil},
		{"v1 unknown", []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n\x16"), Header{Version: 1}, 35, nil},
		{"v1 unknown bare", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1}, 15, nil},
		{"v1 partial", []byte("PROXY TCP4 203.0.113.7 192.0"), Header{}, 0, ErrIncomplete},
		{"v1 partial cr", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 51234 1234\r"), Header{}, 0, ErrIncomplete},
		{"signature prefix", []byte("PRO"), Header{}, 0, ErrIncomplete},
		{"v2 signature prefix", sigV2[:7], Header{}, 0, ErrIncomplete},
		{"empty", nil, Header{}, 0, ErrIncomplete},
		{"tls", tls, Header{}, 0, ErrNoHeader},
		{"text", []byte("PROXZ"), Header{}, 0, ErrNoHeader},
		{"v1 no crlf in 107", append([]byte("PROXY UNKNOWN "), make([]byte, 100)...), Header{}, 0, ErrMalformed},
		{"v1 lf only", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 51234 1234\n"), Header{}, 0, ErrMalformed},
		{"v1 stray cr", []byte("PROXY TCP4 203.0.113.7\r192.0.2.1 51234 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 bad proto", []byte("PROXY UDP4 203.0.113.7 192.0.2.1 51234 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::7 2001:db8::1 51234 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 tcp6 with v4", []byte("PROXY TCP6 203.0.113.7 192.0.2.1 51234 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 port range", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 65536 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 port leading zero", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 01234 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 port sign", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 +1234 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 double space", []byte("PROXY TCP4 203.0.113.7  192.0.2.1 51234 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 extra field", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 51234 1234 9\r\n"), Header{}, 0, ErrMalformed},
		{"v1 missing field", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 51234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 2001:db8::1 51234 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v1 octal ipv4", []byte("PROXY TCP4 010.0.0.1 192.0.2.1 51234 1234\r\n"), Header{}, 0, ErrMalformed},
		{"v2 tcp4", AppendV2(nil, src4, dst4), Header{2, Proxy, src4, dst4}, 28, nil},
		{"v2 tcp6", AppendV2(nil, src6, dst6), Header{2, Proxy, src6, dst6}, 52, nil},
		{"v2 tlv skipped", withTLV, Header{2, Proxy, src4, dst4}, 33, nil},
		{"v2 local", v2(0x20, 0x00, nil), Header{Version: 2}, 16, nil},
		{"v2 local with addrs", v2(0x20, 0x11, make([]byte, 12)), Header{Version: 2}, 28, nil},
		{"v2 unix", v2(0x21, 0x31, make([]byte, 216)), Header{Version: 2}, 232, nil},
		{"v2 fixed part partial", AppendV2(nil, src4, dst4)[:14], Header{}, 0, ErrIncomplete},
		{"v2 body partial", AppendV2(nil, src4, dst4)[:20], Header{}, 0, ErrIncomplete},
		{"v2 version 1", v2(0x11, 0x11, make([]byte, 12)), Header{}, 0, ErrMalformed},
		{"v2 version early", append(append([]byte(nil), sigV2...), 0x31), Header{}, 0, ErrMalformed},
		{"v2 command", v2(0x22, 0x11, make([]byte, 12)), Header{}, 0, ErrMalformed},
		{"v2 udp", v2(0x21, 0x12, make([]byte, 12)), Header{}, 0, ErrMalformed},
		{"v2 family", v2(0x21, 0x41, make([]byte, 12)), Header{}, 0, ErrMalformed},
		{"v2 short block", v2(0x21, 0x21, make([]byte, 12)), Header{}, 0, ErrMalformed},
		{"v2 too long", v2(0x21, 0x11, make([]byte, MaxHeaderLen)), Header{}, 0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := Parse(tt.in)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Zero(t, n)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, h)
			assert.Equal(t, tt.n, n)
		})
	}
}

func TestDetect(t *testing.T) {
	assert.Equal(t, NotHeader, Detect([]byte{0x16}))
	assert.Equal(t, NotHeader, Detect([]byte("GET / HTTP/1.1")))
	assert.Equal(t, MaybeHeader, Detect(nil))
	assert.Equal(t, MaybeHeader, Detect([]byte("PROX")))
	assert.Equal(t, MaybeHeader, Detect(sigV2[:11]))
	assert.Equal(t, IsHeader, Detect([]byte("PROXY ")))
	assert.Equal(t, IsHeader, Detect(sigV2))
}

// A header that arrives a byte at a time must read as incomplete at
// every prefix, then parse whole.
func TestParseByteByByte(t *testing.T) {
	for _, full := range [][]byte{AppendV1(nil, src4, dst4), AppendV1(nil, src6, dst6), AppendV2(nil, src4, dst4), AppendV2(nil, src6, dst6)} {
		for k := range len(full) {
			_, _, err := Parse(full[:k])
			require.ErrorIs(t, err, ErrIncomplete, "%q[:%d]", full, k)
		}
		h, n, err := Parse(full)
		require.NoError(t, err)
		assert.Equal(t, len(full), n)
		assert.Equal(t, Proxy, h.Command)
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	inputs := [][]byte{AppendV1(nil, src4, dst4), AppendV1(nil, src6, dst6), AppendV2(nil, src6, dst6), []byte("PROXY TCP4 x y 1 2\r\n")}
	for _, in := range inputs {
		allocs := testing.AllocsPerRun(100, func() { _, _, _ = Parse(in) })
		assert.Zero(t, allocs, "%q", in)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"v1-tcp4", AppendV1(nil, src4, dst4)}, {"v1-tcp6", AppendV1(nil, src6, dst6)}, {"v2-tcp4", AppendV2(nil, src4, dst4)}, {"v2-tcp6", AppendV2(nil, src6, dst6)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Parse(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(AppendV1(nil, src4, dst4))
	f.Add(AppendV1(nil, src6, dst6))
	f.Add(AppendV2(nil, src4, dst4))
	f.Add(AppendV2(nil, src6, dst6))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(0x20, 0x00, nil))
	f.Add(v2(0x21, 0x31, make([]byte, 216)))
	f.Add([]byte{0x16, 3, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, n, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrNoHeader) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if n != 0 {
				t.Fatalf("error with n=%d", n)
			}
			return
		}
		if n <= 0 || n > len(in) || n > MaxHeaderLen {
			t.Fatalf("n=%d for %d bytes", n, len(in))
		}
		for k := range n {
			if _, _, err := Parse(in[:k]); !errors.Is(err, ErrIncomplete) {
				t.Fatalf("prefix %d of a good header: %v", k, err)
			}
		}
		if h.Command != Proxy {
			return
		}
		if !h.Source.IsValid() || !h.Destination.IsValid() {
			t.Fatalf("PROXY header without addresses: %+v", h)
		}
		var again []byte
		if h.Version == 1 {
			again = AppendV1(nil, h.Source, h.Destination)
		} else {
			again = AppendV2(nil, h.Source, h.Destination)
		}
		h2, _, err := Parse(again)
		if err != nil || h2 != h {
			t.Fatalf("re-encoded %+v parses as %+v, %v", h, h2, err)
		}
	})
}
