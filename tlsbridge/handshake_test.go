package tlsbridge

import (
	"crypto/sha256"
	"crypto/tls"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandshake(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name     string
		version  uint16
		insecure bool
		suite    uint16 // TLS 1.2 only: force this suite
	}{
		{name: "tls13 mtls", version: tls.VersionTLS13},
		{name: "tls12 mtls", version: tls.VersionTLS12},
		{name: "tls13 insecure", version: tls.VersionTLS13, insecure: true},
		{name: "tls12 insecure", version: tls.VersionTLS12, insecure: true},
		{name: "tls12 chacha", version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{name: "tls12 aes256", version: tls.VersionTLS12, suite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := f.newServer(t, func(c *Config) {
				c.Insecure = tc.insecure
				if tc.insecure {
					c.ClientCAs = nil
				}
			})
			cc := f.clientConfig(tc.version)
			asked := false
			cc.Certificates = nil
			cc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				asked = true
				return &f.client, nil
			}
			if tc.suite != 0 {
				cc.CipherSuites = []uint16{tc.suite}
			}
			h := established(t, ts, cc)

			assert.Equal(t, !tc.insecure, asked, "client certificate requested")
			p := h.eng.Peer()
			assert.Equal(t, tc.version, p.Version)
			assert.Equal(t, h.client.ConnectionState().CipherSuite, p.CipherSuite)
			if tc.suite != 0 {
				assert.Equal(t, tc.suite, p.CipherSuite)
			}
			assert.False(t, p.Resumed)
			assert.Equal(t, !tc.insecure, p.HasCert)
			if tc.insecure {
				assert.Empty(t, p.Subject)
				assert.Equal(t, [32]byte{}, p.Fingerprint)
			} else {
				assert.Contains(t, p.Subject, "CN=tlslp-client")
				assert.Equal(t, sha256.Sum256(f.leaf.Raw), p.Fingerprint)
			}
			e := h.eng.(*engine)
			if tc.version == tls.VersionTLS13 {
				assert.NotNil(t, e.rl, "TLS 1.3 runs on the record layer")
				assert.Nil(t, e.conn)
			} else {
				assert.NotNil(t, e.conn, "TLS 1.2 keeps tls.Conn")
				assert.Nil(t, e.rl)
			}

			// Both directions carry data.
			require.NoError(t, h.clientWrite([]byte("HELLOBACK\n"), 10))
			assert.Equal(t, "HELLOBACK\n", string(h.got))
			require.NoError(t, h.eng.Write([]byte("HELLO\n")))
			got, err := h.clientRead(6)
			require.NoError(t, err)
			assert.Equal(t, "HELLO\n", string(got))

			s := ts.Stats()
			assert.Equal(t, int64(1), s.HandshakesOK)
			assert.Zero(t, s.HandshakesFailed)
			assert.Zero(t, s.HandshakesInFlight)
		})
	}
}

func TestHandshakeRefused(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	for _, ver := range versions {
		tests := []struct {
			name string
			cert *tls.Certificate
		}{
			{"no client cert", nil},
			{"cert from another CA", &other.client},
		}
		for _, tc := range tests {
			t.Run(ver.name+" "+tc.name, func(t *testing.T) {
				ts := f.newServer(t, nil)
				cc := f.clientConfig(ver.v)
				cc.Certificates = nil
				if tc.cert != nil {
					cc.Certificates = []tls.Certificate{*tc.cert}
				}
				h := newHarness(t, ts, cc)
				cerr := h.handshake()
				require.Equal(t, Failed, h.eng.State())
				require.ErrorIs(t, h.eng.Err(), ErrHandshake)
				h.flush()
				if cerr == nil {
					// TLS 1.3: the client finished first; the alert shows
					// on its first read.
					_, cerr = h.client.Read(make([]byte, 1))
				}
				require.Error(t, cerr)
				assert.True(t, isAlert(cerr), "client should see the server's alert, got %v", cerr)
				assert.ErrorIs(t, h.eng.Write([]byte("x")), ErrHandshake, "Write reports the terminal error")
				s := waitStats(t, ts, "failure counted", func(s Stats) bool { return s.HandshakesFailed == 1 })
				assert.Zero(t, s.HandshakesOK)
			})
		}
	}
}

func TestResumption(t *testing.T) {
	f := newFixture(t)
	for _, ver := range versions {
		t.Run(ver.name, func(t *testing.T) {
			ts := f.newServer(t, nil)
			cache := tls.NewLRUClientSessionCache(4)
			connect := func() *harness {
				cc := f.clientConfig(ver.v)
				cc.ClientSessionCache = cache
				h := established(t, ts, cc)
				// The TLS 1.3 ticket arrives after the handshake: let the
				// client read something so it processes the ticket.
				require.NoError(t, h.eng.Write([]byte("x")))
				_, err := h.clientRead(1)
				require.NoError(t, err)
				return h
			}
			first := connect()
			assert.False(t, first.eng.Peer().Resumed)
			second := connect()
			p := second.eng.Peer()
			assert.True(t, p.Resumed, "second connection resumes")
			assert.True(t, p.HasCert, "resumed session still carries the client certificate")
			assert.Equal(t, first.eng.Peer().Fingerprint, p.Fingerprint)

			// Reload with a fresh copy of the same policy: tickets stay valid
			// because the ticket keys live on the Server, not the policy.
			require.NoError(t, ts.Reload(f.config()))
			third := connect()
			assert.True(t, third.eng.Peer().Resumed, "resumption survives Reload")
			assert.Equal(t, int64(2), ts.Stats().Resumed)

			// Reload to another CA: the old client's session must not
			// resume, and its certificate is refused.
			other := newFixture(t)
			require.NoError(t, ts.Reload(Config{Certificate: f.serverCert, ClientCAs: other.pool}))
			cc := f.clientConfig(ver.v)
			cc.ClientSessionCache = cache
			h := newHarness(t, ts, cc)
			_ = h.handshake()
			assert.Equal(t, Failed, h.eng.State())
			assert.ErrorIs(t, h.eng.Err(), ErrHandshake)
		})
	}
}

func TestNotTLS(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, in := range []string{"HELLO\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "H", "\x16\x04", "\x16\x03\x01\x00\x00", "\x16\x03\x01\xff\xff"} {
		t.Run(in, func(t *testing.T) {
			e := ts.NewEngine(testPeerAddr, nil)
			defer e.Release()
			err := e.Feed([]byte(in))
			require.ErrorIs(t, err, ErrNotTLS)
			assert.Equal(t, Failed, e.State())
			assert.ErrorIs(t, e.Err(), ErrNotTLS)
			assert.Empty(t, e.AppendOutgoing(nil))
			assert.Nil(t, e.(*engine).hs, "no handshake was started")
		})
	}
	s := ts.Stats()
	assert.Zero(t, s.HandshakesInFlight+s.HandshakesOK)
	assert.Equal(t, int64(6), s.HandshakesFailed)
}

func TestPeerGoneMidHandshake(t *testing.T) {
	f := newFixture(t)
	ts := f.newServer(t, nil)
	for _, how := range []string{"close", "release"} {
		t.Run(how, func(t *testing.T) {
			before := runtime.NumGoroutine()
			// The server answered the ClientHello, then the peer vanishes:
			// the handshake coroutine waits for its next flight.
			h := startedHandshake(t, ts, f)
			require.Equal(t, int64(1), ts.Stats().HandshakesInFlight)
			if how == "close" {
				h.eng.Close()
				assert.Equal(t, Closed, h.eng.State())
			} else {
				h.eng.Release()
			}
			h.cli.Close()
			waitStats(t, ts, "slot freed", func(s Stats) bool { return s.HandshakesInFlight == 0 })
			waitGoroutines(t, ts, before)
			assert.NoError(t, h.eng.Err())
		})
	}
	assert.Equal(t, int64(2), ts.Stats().HandshakesCanceled)
}

func TestReload(t *testing.T) {
	f := newFixture(t)
	g := newFixture(t)
	ts := f.newServer(t, nil)
	old := established(t, ts, f.clientConfig(tls.VersionTLS13))

	bad := []struct {
		name string
		cfg  Config
	}{
		{"no certificate", Config{ClientCAs: g.pool}},
		{"no CA", Config{Certificate: g.serverCert}},
		{"no key", Config{Certificate: tls.Certificate{Certificate: g.serverCert.Certificate}, ClientCAs: g.pool}},
		{"negative cap", Config{Certificate: g.serverCert, ClientCAs: g.pool, MaxHandshakes: -1}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, ts.Reload(tc.cfg))
			// The old policy is still in force.
			established(t, ts, f.clientConfig(tls.VersionTLS13))
		})
	}

	require.NoError(t, ts.Reload(g.config()))
	established(t, ts, g.clientConfig(tls.VersionTLS13))
	h := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
	cerr := h.handshake()
	assert.Error(t, cerr, "old CA no longer trusts the new server certificate")

	// The established engine is untouched.
	require.NoError(t, old.clientWrite([]byte("still here\n"), 11))
	assert.Equal(t, "still here\n", string(old.got))
}

func TestNewServerValidates(t *testing.T) {
	f := newFixture(t)
	_, err := NewServer(Config{})
	assert.Error(t, err)
	_, err = NewServer(Config{Certificate: f.serverCert})
	assert.Error(t, err, "CA required unless insecure")
	ts, err := NewServer(Config{Certificate: f.serverCert, Insecure: true})
	require.NoError(t, err)
	assert.NotNil(t, ts)
}

// TestDataPipelinedBehindFinished: a TLS 1.3 client may send application
// data right behind its Finished; the engine must hand those records to the
// record layer, not lose them inside crypto/tls.
func TestDataPipelinedBehindFinished(t *testing.T) {
	f := newFixture(t)
	for _, mode := range []struct {
		name     string
		insecure bool
	}{{"mtls", false}, {"insecure", true}} {
		t.Run(mode.name, func(t *testing.T) {
			ts := f.newServer(t, func(c *Config) {
				c.Insecure = mode.insecure
				if mode.insecure {
					c.ClientCAs = nil
				}
			})
			h := newHarness(t, ts, f.clientConfig(tls.VersionTLS13))
			var cerr error
			cdone := done(h.async(h.client.Handshake), &cerr)
			// Feed the ClientHello only, send the server flight, and hold
			// back everything else until the client has finished.
			h.pumpUntil("server flight", func() bool {
				if h.eng.(*engine).hsStarted() {
					h.flush()
					return h.srv.w.len() > 0 || cdone()
				}
				return false
			})
			deadline := time.After(waitLimit)
			for !cdone() {
				select {
				case <-h.ev:
				case <-deadline:
					t.Fatal("client handshake did not finish")
				}
			}
			require.NoError(t, cerr)
			_, err := h.client.Write([]byte("early bird\n"))
			require.NoError(t, err)
			// Finished and the data arrive in one read.
			h.feed(h.srv.r.take())
			h.pumpUntil("data", func() bool { return len(h.got) >= 11 || h.readErr != nil })
			require.NoError(t, h.readErr)
			assert.Equal(t, "early bird\n", string(h.got))
			assert.Equal(t, Established, h.eng.State())
			assert.NotNil(t, h.eng.(*engine).rl, "crypto/tls stopped at the Finished record, so the record layer took over")
		})
	}
}
