package loadgen

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHumanUnits(t *testing.T) {
	tests := []struct {
		ms   float64
		want string
	}{
		{0, "0ms"},
		{0.0123, "12.3µs"},
		{0.85, "850µs"},
		{0.9996, "1.00ms"},
		{1, "1.00ms"},
		{12.345, "12.3ms"},
		{123.45, "123ms"},
		{999.6, "1.00s"},
		{11300, "11.3s"},
		{11349.9, "11.3s"},
		{123456, "123s"},
		{1234567, "1230s"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, HumanMs(tc.ms), "%v ms", tc.ms)
	}
	assert.Equal(t, "9.50%", percent(19, 200))
	assert.Equal(t, "100%", percent(3, 3))
	assert.Equal(t, "-", percent(0, 0))
	assert.Equal(t, "368.1/s", humanRate(368.12))
	assert.Equal(t, "7.51M", humanCount(7_512_345))
	assert.Equal(t, "65.5k", humanCount(65_536))
	assert.Equal(t, "10000", humanCount(9999))
	assert.Equal(t, "999", humanCount(999))
}

func TestNormalizeError(t *testing.T) {
	tests := []struct{ in, want string }{
		{"dial tcp 127.0.0.3:0->127.0.0.1:43121: connect: connection refused", "dial tcp: connect: connection refused"},
		{"read tcp 127.0.0.1:5501->127.0.0.1:1234: read: connection reset by peer", "read tcp: read: connection reset by peer"},
		{"tls: tls: first record does not look like a TLS handshake", "tls: first record does not look like a TLS handshake"},
		{"remote error: tls: tls: bad certificate", "remote error: tls: bad certificate"},
		{"dial tcp [::1]:443: i/o timeout", "dial tcp: i/o timeout"},
		{"x509: certificate is valid for localhost, not elsewhere.example", "x509: certificate is valid for localhost, not elsewhere.example"},
		{"line\nbreak", "line break"},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, normalizeError(tc.in), tc.in)
	}
}
