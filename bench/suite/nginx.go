package suite

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// nginxModuleDirs are where Debian and upstream packages put dynamic
// modules.
var nginxModuleDirs = []string{"/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/usr/lib64/nginx/modules", "/etc/nginx/modules"}

// errNoNginx says why the nginx row is skipped.
var errNoNginx = errors.New("nginx not found")

// NginxInfo is the nginx the handshake test runs.
type NginxInfo struct {
	Bin string
	// Module is the stream module to load_module; empty when built in.
	Module string
	// Version is nginx's and its OpenSSL's version, for the report.
	Version string
}

// FindNginx locates nginx and, when its stream module is dynamic, the
// module to load. path may name the binary; empty searches $PATH and
// /usr/sbin (not on a non-root user's PATH on Debian).
func FindNginx(path string) (NginxInfo, error) {
	if path == "" {
		for _, p := range []string{"nginx", "/usr/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
			if b, err := exec.LookPath(p); err == nil {
				path = b
				break
			}
		}
		if path == "" {
			return NginxInfo{}, fmt.Errorf("%w on PATH or in /usr/sbin", errNoNginx)
		}
	}
	out, err := exec.Command(path, "-V").CombinedOutput()
	if err != nil {
		return NginxInfo{}, fmt.Errorf("%s -V: %w", path, err)
	}
	info := NginxInfo{Bin: path, Version: NginxVersion(string(out))}
	if StreamSupport(string(out)) == "static" {
		return info, nil
	}
	for _, d := range nginxModuleDirs {
		m := filepath.Join(d, "ngx_stream_module.so")
		if _, err := os.Stat(m); err == nil {
			info.Module = m
			return info, nil
		}
	}
	return NginxInfo{}, fmt.Errorf("%s has a dynamic stream module but ngx_stream_module.so is not in %s (apt-get install libnginx-mod-stream)",
		path, strings.Join(nginxModuleDirs, ", "))
}

// StreamSupport reads `nginx -V` output: "static" when the stream module
// is built in, otherwise "dynamic" (a module to load, if installed).
func StreamSupport(v string) string {
	for _, f := range strings.Fields(v) {
		switch {
		case f == "--with-stream=dynamic":
			return "dynamic"
		case f == "--with-stream":
			return "static"
		}
	}
	// Distribution builds such as Debian's nginx-light list no stream
	// option yet ship the module separately.
	return "dynamic"
}

// NginxVersion condenses `nginx -V` output to "nginx/1.22.1, built with
// OpenSSL ... (running with ...)".
func NginxVersion(v string) string {
	var parts []string
	for line := range strings.Lines(v) {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "nginx version: "); ok {
			parts = append(parts, rest)
		} else if strings.HasPrefix(line, "built with ") {
			parts = append(parts, line)
		}
	}
	if len(parts) == 0 {
		return "unknown version"
	}
	return strings.Join(parts, ", ")
}

// NginxConf is the stream server the handshake test runs: the same server
// certificate and CA, client certificates required, and the first line of
// the protocol sent right after the handshake.
func NginxConf(module, dir, userName string, port int, serverCert, serverKey, caCert string) string {
	var b strings.Builder
	if module != "" {
		fmt.Fprintf(&b, "load_module %s;\n", module)
	}
	if userName != "" {
		// Only meaningful when the suite runs as root: keep the workers
		// under the current user rather than nginx's default "nobody".
		fmt.Fprintf(&b, "user %s;\n", userName)
	}
	fmt.Fprintf(&b, `worker_processes auto;
pid %s;
error_log %s warn;
events {
    worker_connections 4096;
}
stream {
    server {
        listen 127.0.0.1:%d ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_client_certificate %s;
        ssl_verify_client on;
        ssl_protocols TLSv1.2 TLSv1.3;
        return "HELLO\n";
    }
}
`, filepath.Join(dir, "nginx.pid"), filepath.Join(dir, "error.log"), port, serverCert, serverKey, caCert)
	return b.String()
}

func (r *runner) writeNginxConf(port int) (string, error) {
	dir := filepath.Join(r.dir, "nginx")
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return "", fmt.Errorf("nginx dir: %w", err)
	}
	userName := ""
	if os.Geteuid() == 0 {
		if u, err := user.Current(); err == nil {
			userName = u.Username
		} else {
			userName = strconv.Itoa(os.Geteuid())
		}
	}
	conf := filepath.Join(dir, "nginx.conf")
	text := NginxConf(r.opt.Nginx.Module, dir, userName, port, r.files.ServerCert, r.files.ServerKey, r.files.CACert)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return "", fmt.Errorf("write nginx.conf: %w", err)
	}
	return conf, nil
}
