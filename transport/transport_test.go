package transport

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseListen(t *testing.T) {
	tests := []struct {
		in   string
		want Listen
		err  string
	}{
		{in: "127.0.0.1:1234", want: Listen{Transport: TLS, Host: "127.0.0.1", Port: "1234"}},
		{in: "TCP://localhost:1", want: Listen{Transport: TCP, Host: "localhost", Port: "1"}},
		{in: "auto://[::1]:2", want: Listen{Transport: Auto, Host: "::1", Port: "2"}},
		{in: "ws://0.0.0.0:80", want: Listen{Transport: WS, Host: "0.0.0.0", Port: "80", Path: DefaultPath}},
		{in: "wss://:443/play", want: Listen{Transport: WSS, Host: "", Port: "443", Path: "/play"}},
		{in: "tcp://h:1/x", err: "a path is only for ws:// and wss://"},
		{in: "http://h:1", err: "unknown scheme"},
		{in: "ws://nohost", err: "want [scheme://]host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseListen(tt.in)
			if tt.err != "" {
				require.ErrorIs(t, err, ErrListen)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"127.0.0.1:1", "ws://[::1]:2/p", "auto://h:3", "x://", "wss://:1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseListen(s)
		if err != nil {
			return
		}
		again, err := ParseListen(l.String())
		if err != nil {
			t.Fatalf("%q parsed as %+v, whose String %q does not parse: %v", s, l, l.String(), err)
		}
		if again != l && !strings.Contains(l.Host, "%") {
			t.Fatalf("%q: %+v then %+v", s, l, again)
		}
	})
}

func TestAutoEngineDecides(t *testing.T) {
	tlsSide := &countingFactory{}
	f := AutoFactory{TLS: tlsSide}
	e := f.NewEngine(netipZero, func() {})
	w := e.(FirstByteWaiter)
	assert.Equal(t, DefaultAutoWait, w.FirstByteWait())
	require.NoError(t, e.Feed(nil))
	assert.Equal(t, Auto, e.(Named).Transport(), "nothing decides before a byte")
	require.NoError(t, e.Feed([]byte{0x16}))
	assert.Equal(t, TLS, e.(Named).Transport())
	assert.Equal(t, 1, tlsSide.made)
	assert.Zero(t, w.FirstByteWait())

	e = f.NewEngine(netipZero, func() {})
	e.(FirstByteWaiter).WaitOver()
	assert.Equal(t, TCP, e.(Named).Transport())
	require.NoError(t, e.Write([]byte("HELLO\n")))
	assert.Equal(t, "HELLO\n", string(e.AppendOutgoing(nil)))
	assert.Equal(t, 1, tlsSide.made, "silence never starts a TLS engine")
}
