package loadgen

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/identity"
	"tlslpd/internal/testenv"
)

// identityCounter is a TLS server that accepts any client certificate,
// counts sessions by its fingerprint (resumed ones too) and ends each
// session with a FAIL line.
type identityCounter struct {
	mu      sync.Mutex
	seen    map[identity.Fingerprint]int
	names   map[string]int // by the server name the client asked for
	resumed int
}

func startIdentityCounter(t *testing.T, env *testenv.Env) (int, *identityCounter) {
	t.Helper()
	ln := testenv.Listen(t)
	t.Cleanup(func() { ln.Close() })
	ic := &identityCounter{seen: map[identity.Fingerprint]int{}, names: map[string]int{}}
	cfg := &tls.Config{Certificates: []tls.Certificate{env.ServerTLS}, ClientAuth: tls.RequireAnyClientCert, MinVersion: tls.VersionTLS12}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				tc := tls.Server(c, cfg)
				if tc.Handshake() != nil {
					return
				}
				st := tc.ConnectionState()
				ic.mu.Lock()
				ic.seen[identity.Of(st.PeerCertificates[0].Raw)]++
				ic.names[st.ServerName]++
				if st.DidResume {
					ic.resumed++
				}
				ic.mu.Unlock()
				_, _ = tc.Write([]byte("FAIL counted\n"))
			}(c)
		}
	}()
	return testenv.Port(ln), ic
}

func TestRunSpreadsSessionsOverIdentities(t *testing.T) {
	env := testenv.New(t)
	port, ic := startIdentityCounter(t, env)
	cfg := baseConfig(env, port)
	cfg.Workers, cfg.Sessions, cfg.Identities, cfg.Resumption = 3, 24, 6, true
	var notices bytes.Buffer
	cfg.Notices = &notices
	sum, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.EqualValues(t, 24, sum.Sessions)
	assert.Contains(t, notices.String(), "made 6 transient client identities")

	ic.mu.Lock()
	defer ic.mu.Unlock()
	require.Len(t, ic.seen, 6, "six identities, none of them the PKI's client certificate")
	clientFP := identity.Of(env.ClientTLS.Certificates[0].Certificate[0])
	for fp, n := range ic.seen {
		assert.NotEqual(t, clientFP, fp)
		assert.Equal(t, 4, n, "sessions take the identities in turn; a resumed one keeps its own (%s)", fp)
	}
	assert.Positive(t, ic.resumed, "resumption still works per identity")
}

func TestMainIdentitiesNeedNoClientCertificateFiles(t *testing.T) {
	env := testenv.New(t)
	files := env.Files(t)
	port, ic := startIdentityCounter(t, env)
	var out, errb bytes.Buffer
	code := Main([]string{"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--ca-cert", files.CACert,
		"--client-cert", "/nonexistent.pem", "--private-key", "/nonexistent.pem",
		"--identities", "3", "--workers", "1", "--sessions", "6", "--quiet", "--server-name", "localhost"}, &out, &errb)
	assert.Equal(t, ExitFailed, code, "every session ends with a FAIL line: nothing completed (stderr %s)", errb.String())
	assert.Contains(t, errb.String(), "made 3 transient client identities")
	ic.mu.Lock()
	assert.Len(t, ic.seen, 3)
	assert.Equal(t, map[string]int{"localhost": 6}, ic.names, "--server-name is sent (SNI) and verified")
	ic.mu.Unlock()

	errb.Reset()
	code = Main([]string{"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--identities", "-1", "--sessions", "1"}, &out, &errb)
	assert.NotEqual(t, 0, code)
}
