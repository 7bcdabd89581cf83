package transport

import (
	"net/netip"

	"tlslpd/tlsbridge"
)

var netipZero netip.Addr

// countingFactory stands in for the TLS server: plain engines, counted.
type countingFactory struct{ made int }

func (c *countingFactory) NewEngine(netip.Addr, func()) tlsbridge.Engine {
	c.made++
	return &plainEngine{}
}
