package client

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/bench/baseline"
	"tlslpd/identity"
	"tlslpd/internal/testenv"
	"tlslpd/protocol"
)

func baseCfg(tlsCfg *tls.Config, ports ...int) Config {
	return Config{Host: "127.0.0.1", Ports: ports, TLS: tlsCfg, OtherTimeout: 5 * time.Second, WorkTimeout: 20 * time.Second, SolverWorkers: 1}
}

func TestRunAgainstBaseline(t *testing.T) {
	env := testenv.New(t)
	tests := []struct {
		name     string
		server   baseline.Config
		insecure bool
		client   *tls.Config
		closed   int // closed ports tried first
		wantBody int
	}{
		{name: "mTLS", server: baseline.Config{NBits: 8, Inject: baseline.InjectNever}, client: env.ClientTLS, wantBody: protocol.BodyRequests},
		{name: "tutorial", server: baseline.Config{NBits: 6, Tutorial: true}, client: env.ClientTLS, wantBody: protocol.NumBodyCommands},
		{name: "insecure", server: baseline.Config{NBits: 4, Inject: baseline.InjectNever}, insecure: true, client: env.AnonTLS, wantBody: protocol.BodyRequests},
		{name: "port list", server: baseline.Config{NBits: 4, Inject: baseline.InjectNever}, client: env.ClientTLS, closed: 2, wantBody: protocol.BodyRequests},
		{name: "zero bits", server: baseline.Config{ZeroBits: true, Inject: baseline.InjectNever}, client: env.ClientTLS, wantBody: protocol.BodyRequests},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port, served := env.StartBaseline(t, tc.server, tc.insecure)
			var ports []int
			for range tc.closed {
				ports = append(ports, testenv.ClosedPort(t))
			}
			ports = append(ports, port)
			res, err := Run(context.Background(), baseCfg(tc.client, ports...))
			require.NoError(t, err)
			assert.Equal(t, OutcomeCompleted, res.Outcome)
			assert.Equal(t, port, res.Port)
			assert.Equal(t, tc.wantBody, res.BodyRequests)
			assert.Equal(t, tc.server.NBits, res.NBits)
			assert.Empty(t, res.FailLine)
			assert.Positive(t, res.Timing.Total)
			assert.GreaterOrEqual(t, res.Timing.Total, res.Timing.Handshake+res.Timing.Work)
			if tc.server.Tutorial {
				select {
				case err := <-served:
					require.NoError(t, err, "tutorial server exits cleanly after one session")
				case <-time.After(5 * time.Second):
					t.Fatal("tutorial server still running after its session")
				}
			}
		})
	}
}

func TestRunServerFail(t *testing.T) {
	env := testenv.New(t)
	t.Run("injected by baseline", func(t *testing.T) {
		port, _ := env.StartBaseline(t, baseline.Config{NBits: 4, Inject: baseline.InjectAlways, RandomString: "xyzzy"}, false)
		res, err := Run(context.Background(), baseCfg(env.ClientTLS, port))
		require.ErrorIs(t, err, ErrServerFail)
		var sf *ServerFailError
		require.ErrorAs(t, err, &sf)
		assert.Equal(t, "FAIL xyzzy", sf.Line)
		assert.True(t, sf.Injected)
		assert.Equal(t, OutcomeServerFail, res.Outcome)
		assert.Equal(t, "FAIL xyzzy", res.FailLine)
		assert.Contains(t, err.Error(), "FAIL xyzzy")
	})

	tests := []struct {
		name     string
		script   []string // lines sent, each after reading one reply (except the first)
		injected bool
	}{
		{name: "checksum", script: []string{"HELLO", "WORK tok 0", "EMAIL1 r", protocol.FailInvalidChecksum}},
		{name: "suffix", script: []string{"HELLO", "WORK tok 0", protocol.FailInvalidSuffix}},
		{name: "hello", script: []string{"HELLO", protocol.FailExpectedHelloBack}},
		{name: "receiving in body", script: []string{"HELLO", "WORK tok 0", protocol.FailReceiving}},
		{name: "bare FAIL before HELLO", script: []string{"FAIL"}},
		{name: "random in body", script: []string{"HELLO", "WORK tok 0", "SOCIAL r", "FAIL r"}, injected: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := startFake(t, env, func(c *tls.Conn, r *bufio.Reader) {
				for i, line := range tc.script {
					if i > 0 {
						if _, err := r.ReadString('\n'); err != nil {
							return
						}
					}
					if _, err := c.Write([]byte(line + "\n")); err != nil {
						return
					}
				}
			})
			res, err := Run(context.Background(), baseCfg(env.ClientTLS, port))
			var sf *ServerFailError
			require.ErrorAs(t, err, &sf)
			require.ErrorIs(t, err, ErrServerFail)
			last := tc.script[len(tc.script)-1]
			assert.Equal(t, last, sf.Line)
			assert.Equal(t, last, res.FailLine)
			assert.Equal(t, tc.injected, res.Injected)
		})
	}
}

func TestRunSendsAnswersAndChecksums(t *testing.T) {
	env := testenv.New(t)
	got := make(chan []string, 1)
	port := startFake(t, env, func(c *tls.Conn, r *bufio.Reader) {
		var replies []string
		defer func() { got <- replies }()
		for _, line := range []string{"HELLO", "WORK tok 8", "COUNTRY r1", "FULL_NAME r 2", "DONE"} {
			if _, err := c.Write([]byte(line + "\n")); err != nil {
				return
			}
			reply, err := r.ReadString('\n')
			if err != nil {
				return
			}
			replies = append(replies, strings.TrimSuffix(reply, "\n"))
		}
	})
	cfg := baseCfg(env.ClientTLS, port)
	cfg.Answers = map[string]string{"COUNTRY": "Atlantis, the lost one", "FULL_NAME": ""}
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 2, res.BodyRequests)
	replies := <-got
	require.Len(t, replies, 5)
	assert.Equal(t, protocol.HelloBack, replies[0])
	sum := sha256.Sum256([]byte("tok" + replies[1]))
	assert.Zero(t, sum[31], "suffix meets 8 bits")
	ck := func(s string) string { h := sha256.Sum256([]byte("tok" + s)); return hex.EncodeToString(h[:]) }
	assert.Equal(t, ck("r1")+" Atlantis, the lost one", replies[2])
	assert.Equal(t, ck("r 2")+" ", replies[3])
	assert.Equal(t, protocol.OK, replies[4])
}

func TestRunErrors(t *testing.T) {
	env := testenv.New(t)
	silent := func(c *tls.Conn, r *bufio.Reader) {
		_ = c.Handshake()
		for { // until the client gives up
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name    string
		port    func(t *testing.T) int
		tls     *tls.Config
		work    time.Duration
		want    error
		wantMsg string
	}{
		{name: "client without cert refused", tls: env.AnonTLS, want: ErrTLS, wantMsg: "the server requires a client certificate", port: func(t *testing.T) int {
			p, _ := env.StartBaseline(t, baseline.Config{NBits: 4}, false)
			return p
		}},
		{name: "client cert from another CA refused", tls: selfSignedClient(t, env.AnonTLS), want: ErrTLS, wantMsg: "the server refused our client certificate", port: func(t *testing.T) int {
			p, _ := env.StartBaseline(t, baseline.Config{NBits: 4}, false)
			return p
		}},
		{name: "unknown CA", tls: &tls.Config{}, want: ErrTLS, port: func(t *testing.T) int {
			p, _ := env.StartBaseline(t, baseline.Config{NBits: 4}, true)
			return p
		}},
		{name: "silent server", tls: env.ClientTLS, want: ErrTimeout, wantMsg: "HELLO", port: func(t *testing.T) int {
			return startFake(t, env, silent)
		}},
		{name: "silent after HELLO", tls: env.ClientTLS, want: ErrTimeout, wantMsg: "WORK", port: func(t *testing.T) int {
			return startFake(t, env, func(c *tls.Conn, r *bufio.Reader) {
				_, _ = c.Write([]byte("HELLO\n"))
				silent(c, r)
			})
		}},
		{name: "work timeout", tls: env.ClientTLS, work: 200 * time.Millisecond, want: ErrTimeout, wantMsg: "work timeout", port: func(t *testing.T) int {
			return startFake(t, env, func(c *tls.Conn, r *bufio.Reader) {
				_, _ = c.Write([]byte("HELLO\n"))
				_, _ = r.ReadString('\n')
				_, _ = c.Write([]byte("WORK tok 62\n"))
				silent(c, r)
			})
		}},
		{name: "garbage", tls: env.ClientTLS, want: ErrProtocol, port: func(t *testing.T) int {
			return startFake(t, env, func(c *tls.Conn, r *bufio.Reader) { _, _ = c.Write([]byte("BOGUS x\n")) })
		}},
		{name: "out of order", tls: env.ClientTLS, want: ErrProtocol, port: func(t *testing.T) int {
			return startFake(t, env, func(c *tls.Conn, r *bufio.Reader) { _, _ = c.Write([]byte("DONE\n")) })
		}},
		{name: "over-long line", tls: env.ClientTLS, want: ErrProtocol, port: func(t *testing.T) int {
			return startFake(t, env, func(c *tls.Conn, r *bufio.Reader) {
				_, _ = c.Write([]byte("FULL_NAME " + strings.Repeat("y", 2000) + "\n"))
			})
		}},
		{name: "invalid UTF-8", tls: env.ClientTLS, want: ErrProtocol, port: func(t *testing.T) int {
			return startFake(t, env, func(c *tls.Conn, r *bufio.Reader) { _, _ = c.Write([]byte("HELLO\xff\n")) })
		}},
		{name: "closed mid-session", tls: env.ClientTLS, want: ErrProtocol, wantMsg: "closed", port: func(t *testing.T) int {
			return startFake(t, env, func(c *tls.Conn, r *bufio.Reader) {
				_, _ = c.Write([]byte("HELLO\n"))
				_, _ = r.ReadString('\n')
			})
		}},
		{name: "all ports closed", tls: env.ClientTLS, want: ErrConnect, port: func(t *testing.T) int { return testenv.ClosedPort(t) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseCfg(tc.tls, tc.port(t))
			cfg.OtherTimeout = 300 * time.Millisecond
			cfg.WorkTimeout = tc.work
			start := time.Now()
			res, err := Run(context.Background(), cfg)
			require.ErrorIs(t, err, tc.want)
			assert.NotEqual(t, OutcomeCompleted, res.Outcome)
			assert.Less(t, time.Since(start), 5*time.Second, "bounded by the timeouts")
			if tc.wantMsg != "" {
				assert.Contains(t, err.Error(), tc.wantMsg)
			}
		})
	}
}

func TestRunCancel(t *testing.T) {
	env := testenv.New(t)
	port := startFake(t, env, func(c *tls.Conn, r *bufio.Reader) { _, _ = r.ReadString('\n') })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cfg := baseCfg(env.ClientTLS, port)
	cfg.OtherTimeout = time.Minute
	_, err := Run(ctx, cfg)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, errors.Is(err, ErrTimeout), "cancellation is not a step timeout")
}

func TestRunConfigErrors(t *testing.T) {
	env := testenv.New(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no host", Config{Ports: []int{1}, TLS: env.ClientTLS}},
		{"no ports", Config{Host: "127.0.0.1", TLS: env.ClientTLS}},
		{"no TLS", Config{Host: "127.0.0.1", Ports: []int{1}}},
		{"bad answer", Config{Host: "127.0.0.1", Ports: []int{1}, TLS: env.ClientTLS, Answers: map[string]string{"NOPE": "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.cfg)
			require.ErrorIs(t, err, ErrConfig)
		})
	}
}

// selfSignedClient is base presenting a self-signed client certificate,
// which no CA-verifying server accepts.
func selfSignedClient(t *testing.T, base *tls.Config) *tls.Config {
	t.Helper()
	cert, err := identity.Transient("stranger", time.Hour)
	require.NoError(t, err)
	cfg := base.Clone()
	// Shown whatever CAs the server names (Certificates alone would be
	// withheld from a server whose CAs did not sign it).
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return cfg
}
