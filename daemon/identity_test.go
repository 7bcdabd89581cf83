package daemon

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/config"
	"tlslpd/identity"
	"tlslpd/internal/testbin"
	"tlslpd/internal/testmetrics"
)

// dialIdentity connects presenting cert (transient, no CA) and asking for
// serverName; it returns the client and the server certificate it got.
func dialIdentity(t testing.TB, addr string, cert tls.Certificate, serverName string) (*client, error) {
	raw, err := net.DialTimeout("tcp", addr, bound)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, &tls.Config{
		ServerName: serverName, InsecureSkipVerify: true, // the test checks which certificate came
		Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
	})
	if err := conn.SetDeadline(time.Now().Add(bound)); err != nil {
		raw.Close()
		return nil, err
	}
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}, nil
}

// servedTo reports whether a session as cert gets HELLO, and the subject
// CN of the certificate the server showed.
func servedTo(t *testing.T, addr string, cert tls.Certificate, serverName string) (bool, string) {
	t.Helper()
	c, err := dialIdentity(t, addr, cert, serverName)
	require.NoError(t, err)
	defer c.conn.Close()
	l, err := c.line()
	cn := ""
	if st := c.conn.ConnectionState(); len(st.PeerCertificates) > 0 {
		cn = st.PeerCertificates[0].Subject.CommonName + "/" + st.PeerCertificates[0].SerialNumber.String()
	}
	return err == nil && l == "HELLO", cn
}

func writeSNIPair(t *testing.T, pki *certs.PKI, dir, host string) {
	t.Helper()
	p, err := pki.Authority().IssueServer(certs.Options{Hosts: []string{host}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sni.tmp"), p.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sni-key.tmp"), p.KeyPEM, 0o600))
	require.NoError(t, os.Rename(filepath.Join(dir, "sni-key.tmp"), filepath.Join(dir, "sni-key.pem")))
	require.NoError(t, os.Rename(filepath.Join(dir, "sni.tmp"), filepath.Join(dir, "sni.pem")))
}

// Under a small bounded load of transient identities, the deny list and
// the SNI certificate are reloaded (SIGHUP, then a file change alone);
// the load's sessions never fail, the lists take effect for new
// handshakes, and records name identity and server name.
func TestIdentitiesAndSNIReloadUnderLoad(t *testing.T) {
	dir, pki := testbin.Home(t)
	writeSNIPair(t, pki, dir, "a.example")
	deny := filepath.Join(dir, "deny.txt")
	require.NoError(t, os.WriteFile(deny, []byte("# nobody yet\n"), 0o600))
	p := startIn(t, dir, "--n_bits", "4", "--token", "AUTH", "--log-level", "DEBUG", "--status-interval", "0",
		"--listen", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--records", "records.jsonl",
		"--client-auth", "any", "--deny-identities", "deny.txt", "--max-conns-per-identity", "2",
		"--sni", "a.example=sni.pem,sni-key.pem", "--cert-watch-interval", "100ms")
	addr := p.Listen[0]

	var ids []tls.Certificate
	for _, name := range []string{"load-0", "load-1", "mallory", "probe"} {
		c, err := identity.Transient(name, 0)
		require.NoError(t, err)
		ids = append(ids, c)
	}
	mallory, probe := ids[2], ids[3]

	// The load: two identities, two sessions each at a time (their cap).
	stop := make(chan struct{})
	var completed, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := dialIdentity(t, addr, ids[i%2], "a.example")
				if err == nil {
					var outcome string
					outcome, err = c.session()
					c.conn.Close()
					if err == nil && outcome != "completed" && outcome != "FAIL LGTk" {
						err = assert.AnError
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				completed.Add(1)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	ok, servedCN := servedTo(t, addr, mallory, "a.example")
	require.True(t, ok, "mallory is served before the deny list names her")
	assert.Contains(t, servedCN, "a.example/")
	ok, defaultCN := servedTo(t, addr, mallory, "other.example")
	require.True(t, ok)
	assert.Contains(t, defaultCN, "localhost/", "a name no --sni matches gets the default certificate")

	// SIGHUP: mallory on the deny list, and a new SNI certificate.
	require.NoError(t, os.WriteFile(deny, []byte(identity.Of(mallory.Certificate[0]).String()+" mallory\n"), 0o600))
	writeSNIPair(t, pki, dir, "a.example")
	p.Signal(syscall.SIGHUP)
	p.Logged("identity lists reloaded", bound)
	p.Logged("certificates reloaded", bound)
	ok, _ = servedTo(t, addr, mallory, "a.example")
	assert.False(t, ok, "a denied fingerprint is refused after SIGHUP")
	ok, newCN := servedTo(t, addr, probe, "a.example")
	require.True(t, ok)
	assert.Contains(t, newCN, "a.example/")
	assert.NotEqual(t, servedCN, newCN, "the reloaded SNI certificate is served")

	// A changed file alone is noticed by the watcher.
	require.NoError(t, os.WriteFile(deny, []byte("# forgiven\n"), 0o600))
	require.Eventually(t, func() bool { ok, _ := servedTo(t, addr, mallory, "a.example"); return ok }, bound, 50*time.Millisecond,
		"the deny list is reloaded when its file changes")

	// Let the load run past the reloads, then stop it.
	require.Eventually(t, func() bool { return completed.Load() >= 20 }, bound, 20*time.Millisecond)
	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	assert.Zero(t, failed.Load(), "load sessions across the reloads: first error %v", firstErr.Load())

	series := testmetrics.Scrape(t, p.Metrics)
	assert.GreaterOrEqual(t, series.Get(t, `tlslpd_identity_decisions_total{decision="denied"}`), 1.0)
	assert.Zero(t, series.Get(t, `tlslpd_identity_decisions_total{decision="not_allowed"}`), "every decision is exported, at zero too")
	assert.GreaterOrEqual(t, series.Get(t, `tlslpd_tls_handshakes_total{result="bad_certificate"}`), 1.0)

	p.Signal(syscall.SIGTERM)
	require.Equal(t, 0, p.ExitCode(bound))
	recs := readRecords(t, filepath.Join(dir, "records.jsonl"))
	want := identity.Of(ids[0].Certificate[0]).String()
	found := false
	for _, r := range recs {
		if r["fingerprint"] == want {
			found = true
			assert.Equal(t, "CN=load-0", r["subject"])
			assert.Equal(t, "a.example", r["server_name"])
		}
	}
	assert.True(t, found, "the records name the load's identity")
	m := p.Logged("session finished", bound)
	assert.Len(t, m["fingerprint"], 64, "the log event names the identity too")
}

func TestSNICertificateNotForItsNameIsWarned(t *testing.T) {
	dir := t.TempDir()
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	files, err := pki.Write(filepath.Join(dir, "certificates"), false)
	require.NoError(t, err)
	writeSNIPair(t, pki, dir, "a.example")
	sni := filepath.Join(dir, "sni.pem") + "," + filepath.Join(dir, "sni-key.pem")
	cfg, err := config.Parse("tlslpd", []string{"--server-cert", files.ServerCert, "--server-key", files.ServerKey,
		"--client-auth", "any", "--sni", "a.example=" + sni, "--sni", "*.a.example=" + sni, "--sni", "b.example=" + sni}, nil)
	require.NoError(t, err)
	var logs bytes.Buffer
	_, err = New(cfg, zerolog.New(&logs))
	require.NoError(t, err, "a mismatch is served all the same")
	out := logs.String()
	assert.Contains(t, out, `"sni":"b.example"`)
	assert.Contains(t, out, `"sni":"*.a.example"`)
	assert.NotContains(t, out, `"sni":"a.example"`)
}
