package tlsbridge

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var versions = []struct {
	name string
	v    uint16
}{{"tls13", tls.VersionTLS13}, {"tls12", tls.VersionTLS12}}

// recordSizes parses the records in b and returns their payload lengths.
func recordSizes(t *testing.T, b []byte) []int {
	t.Helper()
	var sizes []int
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), recordHeaderLen)
		n := int(binary.BigEndian.Uint16(b[3:5]))
		require.GreaterOrEqual(t, len(b), recordHeaderLen+n)
		sizes = append(sizes, n)
		b = b[recordHeaderLen+n:]
	}
	return sizes
}

func TestLargeAndFragmented(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	tests := []struct {
		name  string
		chunk int
		size  int
	}{
		{"whole 1MiB", 0, 1 << 20},
		{"7-byte chunks 256KiB", 7, 256 << 10},
		{"1-byte chunks 40KiB", 1, 40 << 10},
	}
	for _, ver := range versions {
		for _, tc := range tests {
			t.Run(ver.name+" "+tc.name, func(t *testing.T) {
				h := newHarness(t, ts, f.clientConfig(ver.v))
				h.chunk = tc.chunk
				require.NoError(t, h.handshake())
				require.Equal(t, Established, h.eng.State())

				up := make([]byte, tc.size)
				_, _ = rand.Read(up)
				require.NoError(t, h.clientWrite(up, len(up)))
				require.NoError(t, h.readErr)
				require.True(t, bytes.Equal(up, h.got), "client→engine data intact")

				down := make([]byte, tc.size)
				_, _ = rand.Read(down)
				require.NoError(t, h.eng.Write(down))
				out := h.eng.AppendOutgoing(nil)
				sizes := recordSizes(t, out)
				require.GreaterOrEqual(t, len(sizes), tc.size/maxPlaintext)
				for _, s := range sizes {
					require.LessOrEqual(t, s, maxPlaintext+256, "record too large")
				}
				_, _ = h.srv.Write(out)
				got, err := h.clientRead(len(down))
				require.NoError(t, err)
				require.True(t, bytes.Equal(down, got), "engine→client data intact")
			})
		}
	}
}

func TestCloseNotify(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, ver := range versions {
		t.Run(ver.name+" engine closes", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			require.NoError(t, h.eng.Write([]byte("FAIL bye\n")))
			h.eng.Close()
			assert.Equal(t, Closed, h.eng.State())
			assert.NoError(t, h.eng.Err())
			assert.ErrorIs(t, h.eng.Write([]byte("x")), ErrClosed)
			h.flush()
			got, err := io.ReadAll(h.client)
			assert.NoError(t, err, "client sees a clean close_notify, not a truncation")
			assert.Equal(t, "FAIL bye\n", string(got))
		})
		t.Run(ver.name+" client closes", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			_, err := h.client.Write([]byte("last\n"))
			require.NoError(t, err)
			require.NoError(t, h.client.CloseWrite())
			h.pumpUntil("engine EOF", func() bool { return h.readErr != nil })
			assert.ErrorIs(t, h.readErr, io.EOF)
			assert.Equal(t, "last\n", string(h.got))
			assert.Equal(t, Closed, h.eng.State())
			n, err := h.eng.Read(make([]byte, 8))
			assert.Zero(t, n)
			assert.ErrorIs(t, err, io.EOF, "EOF is sticky")
			assert.ErrorIs(t, h.eng.Write([]byte("x")), ErrClosed)
			// Answering with our close_notify is still possible.
			h.eng.Close()
			assert.NotEmpty(t, h.eng.AppendOutgoing(nil))
		})
	}
}

func TestBadRecords(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, ver := range versions {
		t.Run(ver.name+" tampered", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			_, err := h.client.Write([]byte("WORK reply\n"))
			require.NoError(t, err)
			rec := h.srv.r.take()
			require.NotEmpty(t, rec)
			rec[len(rec)-3] ^= 0x40
			h.feed(rec)
			require.ErrorIs(t, h.readErr, ErrBadRecord)
			assert.Equal(t, Failed, h.eng.State())
			assert.ErrorIs(t, h.eng.Err(), ErrBadRecord)
			assert.Empty(t, h.got)
			// The alert reaches the client.
			h.flush()
			_, cerr := h.client.Read(make([]byte, 1))
			assert.True(t, isAlert(cerr), "client gets bad_record_mac, got %v", cerr)
		})
		t.Run(ver.name+" garbage", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			g := make([]byte, 300)
			_, _ = rand.Read(g)
			g[0] = recordTypeApplicationData
			g[1], g[2] = 3, 3
			binary.BigEndian.PutUint16(g[3:5], uint16(len(g)-recordHeaderLen))
			h.feed(g)
			assert.ErrorIs(t, h.readErr, ErrBadRecord)
			assert.Equal(t, Failed, h.eng.State())
			assert.ErrorIs(t, h.eng.Feed([]byte("more")), ErrBadRecord, "Feed reports the terminal error")
		})
		t.Run(ver.name+" truncated then completed", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			_, err := h.client.Write([]byte("split me\n"))
			require.NoError(t, err)
			rec := h.srv.r.take()
			for i := 0; i < len(rec)-1; i++ {
				require.NoError(t, h.eng.Feed(rec[i:i+1]))
				n, err := h.eng.Read(h.rbuf)
				require.NoError(t, err)
				require.Zero(t, n, "no data before the record is complete")
				require.Equal(t, Established, h.eng.State())
			}
			h.feed(rec[len(rec)-1:])
			require.NoError(t, h.readErr)
			assert.Equal(t, "split me\n", string(h.got))
		})
		t.Run(ver.name+" oversized record header", func(t *testing.T) {
			h := established(t, ts, f.clientConfig(ver.v))
			h.feed([]byte{recordTypeApplicationData, 3, 3, 0xff, 0xff})
			assert.ErrorIs(t, h.readErr, ErrBadRecord)
			assert.Equal(t, Failed, h.eng.State())
		})
	}
	t.Run("garbage handshake", func(t *testing.T) {
		h := newHarness(t, ts, nil)
		hello := []byte{recordTypeHandshake, 3, 1, 0, 4, 1, 0, 0, 0}
		require.ErrorIs(t, h.eng.Feed(hello), ErrHandshake, "Feed runs the handshake and reports how it ended")
		assert.Equal(t, Failed, h.eng.State())
		assert.ErrorIs(t, h.eng.Err(), ErrHandshake)
		h.flush()
		assert.NotEmpty(t, h.srv.w.take(), "crypto/tls's alert is left to send")
	})
}

func TestOneByteAtATime(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			h := newHarness(t, ts, f.clientConfig(ver.v))
			h.chunk = 1
			require.NoError(t, h.handshake())
			require.Equal(t, Established, h.eng.State())
			msg := []byte("one byte at a time\nand another line\n")
			require.NoError(t, h.clientWrite(msg, len(msg)))
			assert.Equal(t, string(msg), string(h.got))
		})
	}
}

func TestErrorsWrapSentinels(t *testing.T) {
	for _, e := range []error{ErrNotTLS, ErrHandshake, ErrBadRecord, ErrClosed, ErrNotEstablished, ErrPeerAlert} {
		for _, o := range []error{ErrNotTLS, ErrHandshake, ErrBadRecord, ErrClosed, ErrNotEstablished, ErrPeerAlert} {
			assert.Equal(t, e == o, errors.Is(e, o))
		}
	}
}
