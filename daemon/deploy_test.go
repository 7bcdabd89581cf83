package daemon

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/certs"
	"tlslpd/internal/testmetrics"
)

// secretVolume lays out files the way a Kubernetes Secret volume does:
// each name is a symlink through ..data, itself a symlink to a dated
// directory that an update replaces in one rename.
type secretVolume struct {
	t   *testing.T
	dir string
	gen int
}

func newSecretVolume(t *testing.T, pki *certs.PKI) *secretVolume {
	v := &secretVolume{t: t, dir: filepath.Join(t.TempDir(), "tls")}
	require.NoError(t, os.MkdirAll(v.dir, 0o755))
	v.update(pki)
	for _, name := range []string{certs.ServerCertFile, certs.ServerKeyFile, certs.CACertFile} {
		require.NoError(t, os.Symlink(filepath.Join("..data", name), filepath.Join(v.dir, name)))
	}
	return v
}

func (v *secretVolume) update(pki *certs.PKI) {
	v.gen++
	gen := "..gen_" + strconv.Itoa(v.gen)
	_, err := pki.Write(filepath.Join(v.dir, gen), false)
	require.NoError(v.t, err)
	tmp := filepath.Join(v.dir, "..data_tmp")
	require.NoError(v.t, os.Symlink(gen, tmp))
	require.NoError(v.t, os.Rename(tmp, filepath.Join(v.dir, "..data")))
}

func (v *secretVolume) path(name string) string { return filepath.Join(v.dir, name) }

// startOnSecretVolume serves pki from a Secret volume, watching its files
// every 50 ms, with metrics on.
func startOnSecretVolume(t *testing.T, pki *certs.PKI) (*proc, *secretVolume) {
	t.Helper()
	vol := newSecretVolume(t, pki)
	p := startIn(t, t.TempDir(), "--listen", "127.0.0.1:0", "--n_bits", "4", "--token", "AUTH", "--status-interval", "0",
		"--server-cert", vol.path(certs.ServerCertFile), "--server-key", vol.path(certs.ServerKeyFile), "--ca-cert", vol.path(certs.CACertFile),
		"--metrics-addr", "127.0.0.1:0", "--cert-watch-interval", "50ms")
	p.pki = pki
	return p, vol
}

// A Secret update swaps a symlink: the daemon notices without SIGHUP,
// serves the new CA's clients, and exports the new expiry.
func TestCertificatesReloadWhenSecretVolumeChanges(t *testing.T) {
	first, err := certs.New(certs.Options{Validity: 48 * time.Hour})
	require.NoError(t, err)
	p, vol := startOnSecretVolume(t, first)
	m := testmetrics.Scrape(t, p.Metrics)
	firstExpiry := m.Get(t, `tlslpd_certificate_expiry_timestamp_seconds{cert="server"}`)
	assert.InDelta(t, float64(time.Now().Add(48*time.Hour).Unix()), firstExpiry, 3600)
	assert.Greater(t, m.Get(t, `tlslpd_certificate_expiry_timestamp_seconds{cert="ca"}`), float64(time.Now().Unix()))
	var buildInfo []string
	for series, v := range m {
		if strings.HasPrefix(series, "tlslpd_build_info{") && v == 1 {
			buildInfo = append(buildInfo, series)
		}
	}
	require.Len(t, buildInfo, 1, "one tlslpd_build_info series at 1")
	assert.Regexp(t, `^tlslpd_build_info\{goversion="go[^"]+",revision="[^"]+",version="[^"]+"\}$`, buildInfo[0])

	next, err := certs.New(certs.Options{Validity: 96 * time.Hour})
	require.NoError(t, err)
	vol.update(next)
	reloaded := p.Logged("certificates reloaded", bound)
	assert.Equal(t, "files changed", reloaded["cause"])

	c, err := p.dial(t, next, p.Listen[0])
	require.NoError(t, err)
	_, err = c.toWork()
	require.NoError(t, err, "the new CA's clients are served")
	stale, err := p.dial(t, first, p.Listen[0])
	require.NoError(t, err)
	_, err = stale.line()
	assert.Error(t, err, "the old CA's clients are refused")

	m = testmetrics.Scrape(t, p.Metrics)
	assert.Greater(t, m.Get(t, `tlslpd_certificate_expiry_timestamp_seconds{cert="server"}`), firstExpiry+24*3600)
	assert.Equal(t, 1.0, m.Get(t, "tlslpd_tls_reloads_total"))
	assert.Equal(t, 0.0, m.Get(t, "tlslpd_tls_reload_failures_total"))
}

// A broken update is refused once and counted; the old files keep
// serving.
func TestBrokenSecretUpdateKeepsServing(t *testing.T) {
	pki, err := certs.New(certs.Options{})
	require.NoError(t, err)
	p, vol := startOnSecretVolume(t, pki)
	gen := filepath.Join(vol.dir, "..gen_bad")
	require.NoError(t, os.MkdirAll(gen, 0o755))
	for _, name := range []string{certs.ServerCertFile, certs.ServerKeyFile, certs.CACertFile} {
		require.NoError(t, os.WriteFile(filepath.Join(gen, name), []byte("garbage"), 0o600))
	}
	require.NoError(t, os.Symlink("..gen_bad", filepath.Join(vol.dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(vol.dir, "..data_tmp"), filepath.Join(vol.dir, "..data")))
	failed := p.Logged("reload failed; keeping the current certificates", bound)
	assert.Equal(t, "files changed", failed["cause"])
	c, err := p.dial(t, pki, p.Listen[0])
	require.NoError(t, err)
	_, err = c.toWork()
	require.NoError(t, err)
	assert.Equal(t, 1.0, testmetrics.Scrape(t, p.Metrics).Get(t, "tlslpd_tls_reload_failures_total"))
}
