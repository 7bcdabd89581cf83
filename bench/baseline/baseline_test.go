package baseline

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/protocol"
)

// solve finds a suffix by brute force; the test must not depend on
// tlslpd/pow so that the baseline cross-checks it.
func solve(token string, nBits int) string {
	for i := 0; ; i++ {
		s := strconv.Itoa(i)
		if meets(token+s, nBits) {
			return s
		}
	}
}

func TestMeets(t *testing.T) {
	tests := []struct {
		data  string
		nBits int
	}{{"AUTH", 0}, {"AUTH" + solve("AUTH", 8), 8}, {"x" + solve("x", 11), 11}}
	for _, tc := range tests {
		sum := sha256.Sum256([]byte(tc.data))
		assert.True(t, meets(tc.data, tc.nBits), tc.data)
		// The lowest set bit bounds the difficulty the data meets.
		tz := 0
		for i := 31; i >= 0 && sum[i] == 0; i-- {
			tz += 8
		}
		if tz < 256 {
			b := sum[31-tz/8]
			for b&1 == 0 {
				tz++
				b >>= 1
			}
		}
		assert.False(t, meets(tc.data, tz+1), tc.data)
		assert.True(t, meets(tc.data, tz), tc.data)
	}
}

func TestSessionFailLines(t *testing.T) {
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	srv, err := pki.Server.TLS()
	require.NoError(t, err)
	cli, err := pki.ClientConfig("")
	require.NoError(t, err)
	const token = "tok"
	good := func(req string) string {
		switch {
		case req == protocol.Hello:
			return protocol.HelloBack
		case strings.HasPrefix(req, "WORK "):
			return solve(token, 4)
		case req == protocol.Done:
			return protocol.OK
		}
		_, rs, _ := strings.Cut(req, " ")
		sum := sha256.Sum256([]byte(token + rs))
		return hex.EncodeToString(sum[:]) + " some value"
	}
	tests := []struct {
		name     string
		reply    func(req string) string // "" = send nothing and wait
		wantLast string
		tutorial bool
	}{
		{"completes", good, "", false},
		{"tutorial completes", good, "", true},
		{"bad HELLO reply", func(r string) string { return "HI" }, protocol.FailExpectedHelloBack, false},
		{"bad suffix", func(r string) string {
			if strings.HasPrefix(r, "WORK ") {
				return "not-a-solution-" + strings.Repeat("z", 3)
			}
			return good(r)
		}, protocol.FailInvalidSuffix, false},
		{"bad checksum", func(r string) string {
			if r == protocol.Hello || strings.HasPrefix(r, "WORK ") {
				return good(r)
			}
			return strings.Repeat("0", 64) + " v"
		}, protocol.FailInvalidChecksum, false},
		{"bad DONE reply", func(r string) string {
			if r == protocol.Done {
				return "KO"
			}
			return good(r)
		}, protocol.FailExpectedOK, true},
		{"over-long line", func(r string) string { return strings.Repeat("a", 1001) }, protocol.FailReceiving, false},
		// MaxLineLength counts the newline, as the reference's does.
		{"1000 characters and newline", func(r string) string { return strings.Repeat("a", 1000) }, protocol.FailReceiving, false},
		{"invalid UTF-8", func(r string) string { return "HELLO\xffBACK" }, protocol.FailReceiving, false},
		{"hello timeout", func(r string) string { return "" }, protocol.FailHelloTimeout, false},
		{"work timeout", func(r string) string {
			if strings.HasPrefix(r, "WORK ") {
				return ""
			}
			return good(r)
		}, protocol.FailWorkTimeout, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := Config{TLS: NewTLSConfig(srv, pki.CertPool(), false), Token: token, NBits: 4, Tutorial: tc.tutorial,
				Inject: InjectNever, OtherTimeout: 300 * time.Millisecond, WorkTimeout: 300 * time.Millisecond}
			served := make(chan error, 1)
			go func() { served <- Serve(ctx, ln, cfg) }()

			c, err := tls.Dial("tcp", ln.Addr().String(), cli)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
			r := bufio.NewReader(c)
			var last string
			body := 0
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					break
				}
				last = strings.TrimSuffix(line, "\n")
				if strings.HasPrefix(last, "FAIL") {
					break
				}
				if last != protocol.Hello && last != protocol.Done && !strings.HasPrefix(last, "WORK ") {
					body++
				}
				if rep := tc.reply(last); rep != "" {
					_, err = c.Write([]byte(rep + "\n"))
					require.NoError(t, err)
				}
			}
			if tc.wantLast == "" {
				assert.Equal(t, protocol.Done, last)
				want := protocol.BodyRequests
				if tc.tutorial {
					want = protocol.NumBodyCommands
				}
				assert.Equal(t, want, body)
			} else {
				assert.Equal(t, tc.wantLast, last)
			}
			cancel()
			select {
			case err := <-served:
				require.NoError(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}

func TestServeConfigErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	for _, cfg := range []Config{{}, {TLS: &tls.Config{}}} {
		require.ErrorIs(t, Serve(context.Background(), ln, cfg), ErrConfig)
	}
}
