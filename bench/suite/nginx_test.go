package suite

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

const debianNginxV = `nginx version: nginx/1.22.1
built with OpenSSL 3.0.22 25 Aug 2026 (running with OpenSSL 3.0.19 27 Jan 2026)
TLS SNI support enabled
configure arguments: --with-cc-opt='-g -O2' --prefix=/usr/share/nginx --with-http_ssl_module --with-stream=dynamic --with-stream_ssl_module
`

func TestStreamSupport(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"dynamic", debianNginxV, "dynamic"},
		{"static", "configure arguments: --with-stream --with-stream_ssl_module", "static"},
		{"stream_ssl only is not stream", "configure arguments: --with-stream_ssl_module", "dynamic"},
		{"not listed", "configure arguments: --prefix=/usr", "dynamic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, StreamSupport(tc.in))
		})
	}
}

func TestNginxVersion(t *testing.T) {
	assert.Equal(t, "nginx/1.22.1, built with OpenSSL 3.0.22 25 Aug 2026 (running with OpenSSL 3.0.19 27 Jan 2026)", NginxVersion(debianNginxV))
	assert.Equal(t, "unknown version", NginxVersion("garbage"))
}

func TestNginxConf(t *testing.T) {
	conf := NginxConf("/usr/lib/nginx/modules/ngx_stream_module.so", "/tmp/x", "root", 4321, "/c/s.pem", "/c/k.pem", "/c/ca.pem")
	for _, want := range []string{
		"load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n",
		"user root;\n",
		"pid /tmp/x/nginx.pid;",
		"error_log /tmp/x/error.log warn;",
		"listen 127.0.0.1:4321 ssl;",
		"ssl_certificate /c/s.pem;",
		"ssl_certificate_key /c/k.pem;",
		"ssl_client_certificate /c/ca.pem;",
		"ssl_verify_client on;",
		`return "HELLO\n";`,
	} {
		assert.Contains(t, conf, want)
	}
	// load_module must come first; user only when asked for.
	assert.True(t, strings.HasPrefix(conf, "load_module "))
	plain := NginxConf("", "/tmp/x", "", 1, "a", "b", "c")
	assert.NotContains(t, plain, "load_module")
	assert.NotContains(t, plain, "user ")
	assert.Equal(t, strings.Count(plain, "{"), strings.Count(plain, "}"))
}
