package daemon

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"syscall"
	"time"

	"tlslpd/metrics"
	"tlslpd/tlsbridge"
	"tlslpd/version"
)

// exportDeployment sets the series that say what runs: build info and
// certificate expiry.
func (d *Daemon) exportDeployment(tlsCfg tlsbridge.Config) {
	v := version.Get()
	d.met.SetBuildInfo(v.Version, v.GoVersion, v.Revision)
	d.exportCertExpiry(tlsCfg)
}

// exportCertExpiry publishes when the loaded server certificate chain and
// the CA file expire (the earliest NotAfter of each).
func (d *Daemon) exportCertExpiry(tlsCfg tlsbridge.Config) {
	var server time.Time
	for _, der := range tlsCfg.Certificate.Certificate {
		if c, err := x509.ParseCertificate(der); err == nil {
			server = earliest(server, c.NotAfter)
		}
	}
	for _, sni := range tlsCfg.SNI {
		for _, der := range sni.Certificate.Certificate {
			if c, err := x509.ParseCertificate(der); err == nil {
				server = earliest(server, c.NotAfter)
			}
		}
	}
	d.met.SetCertificateExpiry(metrics.CertServer, server)
	var ca time.Time
	if tlsCfg.ClientCAs != nil {
		ca = pemExpiry(d.cfg.CACert)
	}
	d.met.SetCertificateExpiry(metrics.CertCA, ca)
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// pemExpiry is the earliest NotAfter of the certificates in a PEM file;
// zero if none parses (LoadConfig has already judged the file).
func pemExpiry(path string) time.Time {
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	var out time.Time
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && b.Type == "CERTIFICATE" {
			out = earliest(out, c.NotAfter)
		}
	}
}

// logMetricsEndpoint says where the metrics endpoint can be reached from,
// and whether it serves profiles.
func (d *Daemon) logMetricsEndpoint() {
	addr := d.admin.Addr().String()
	switch {
	case !d.admin.Loopback() && d.admin.Pprof():
		d.log.Warn().Str("metrics_addr", addr).Msg("metrics endpoint and /debug/pprof/ are reachable from other hosts (--metrics-pprof)")
	case !d.admin.Loopback():
		d.log.Info().Str("metrics_addr", addr).Msg("metrics endpoint is reachable from other hosts; /debug/pprof/ is off (loopback only unless --metrics-pprof)")
	}
}

// fileStamp identifies one version of a file as stat sees it through
// symlinks: a Kubernetes Secret update swaps the ..data symlink to a new
// directory, so the path resolves to another inode.
type fileStamp struct {
	dev, ino uint64
	size     int64
	mtime    int64
	missing  bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{missing: errors.Is(err, os.ErrNotExist)}
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.dev, st.ino = uint64(sys.Dev), sys.Ino
	}
	return st
}

func (d *Daemon) certFiles() []string {
	files := []string{d.cfg.ServerCert, d.cfg.ServerKey}
	if d.cfg.ClientAuth == tlsbridge.ClientAuthVerify || d.cfg.ClientAuth == tlsbridge.ClientAuthOptional {
		files = append(files, d.cfg.CACert)
	}
	for _, s := range d.cfg.SNI {
		files = append(files, s.Cert, s.Key)
	}
	if d.ids != nil {
		files = append(files, d.ids.Files()...)
	}
	return files
}

func (d *Daemon) certStamps() []fileStamp {
	files := d.certFiles()
	out := make([]fileStamp, len(files))
	for i, f := range files {
		out[i] = stampOf(f)
	}
	return out
}

// watchCertificates polls the certificate files every interval and reloads
// once a change has held still for one interval, so that a certificate
// and key written one after the other are loaded together. Polling a
// few stat calls costs nothing and sees through symlink swaps, which
// inotify watches on the files themselves miss.
func (d *Daemon) watchCertificates(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	seen := d.certStamps()
	pending := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := d.certStamps()
		if !equalStamps(now, seen) {
			seen, pending = now, true
			continue
		}
		if pending {
			pending = false
			_ = d.reloadCertificates("files changed")
		}
	}
}

func equalStamps(a, b []fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
