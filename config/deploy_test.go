package config

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProxyProtocolFrom(t *testing.T) {
	cfg, err := Parse("tlslpd", nil, nil)
	require.NoError(t, err)
	assert.Empty(t, cfg.ProxyProtocolFrom, "off by default")

	cfg, err = Parse("tlslpd", []string{"--proxy-protocol-from", "10.0.0.0/8", "--proxy-protocol-from", "192.0.2.7", "--proxy-protocol-from", "2001:db8::/32"}, nil)
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32"),
	}, cfg.ProxyProtocolFrom)

	path := writeFile(t, "proxy-protocol-from:\n  - 127.0.0.0/8\n  - ::1\n")
	cfg, err = Parse("tlslpd", []string{"--config", path}, nil)
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}, cfg.ProxyProtocolFrom)

	path = writeFile(t, "proxy_protocol_from: 10.0.0.1/8\n")
	_, err = Parse("tlslpd", []string{"--config", path}, nil)
	require.ErrorIs(t, err, ErrConfigFile)
	assert.Contains(t, err.Error(), "did you mean 10.0.0.0/8")
}

func TestMetricsAddrMayBindAnyAddress(t *testing.T) {
	for addr, loopback := range map[string]bool{
		"127.0.0.1:9100": true, "localhost:9100": true, "[::1]:9100": true,
		"0.0.0.0:9100": false, ":9100": false, "10.1.2.3:9100": false, "[::]:9100": false,
	} {
		cfg, err := Parse("tlslpd", []string{"--metrics-addr", addr}, nil)
		require.NoError(t, err, addr)
		assert.Equal(t, loopback, cfg.MetricsOnLoopback(), addr)
	}
	cfg, err := Parse("tlslpd", []string{"--metrics-addr", ":9100", "--metrics-pprof"}, nil)
	require.NoError(t, err)
	assert.True(t, cfg.MetricsPprof)
}

// --version belongs on a command line: a config file that set it would
// make a service print its version and exit.
func TestVersionIsNotAConfigKey(t *testing.T) {
	_, err := Parse("tlslpd", []string{"--config", writeFile(t, "version: true\n")}, nil)
	require.ErrorIs(t, err, ErrConfigFile)
	assert.Contains(t, err.Error(), `key "version" cannot be used inside a config file`)
}
