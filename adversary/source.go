package adversary

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Target is the server under attack.
type Target struct {
	// Addr is host:port; the host must be a loopback address.
	Addr string
	// TLS is the client configuration an honest client would use (mutual
	// TLS: Certificates set); attacks clone it.
	TLS *tls.Config
}

func (t Target) check() error {
	host, _, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return fmt.Errorf("adversary: target %q: %w", t.Addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("adversary: target %q: only loopback IP addresses may be attacked", t.Addr)
	}
	if t.TLS == nil {
		return fmt.Errorf("adversary: target %q: no TLS configuration", t.Addr)
	}
	return nil
}

// Sources returns n IPv4 loopback source addresses starting at
// 127.0.0.first; the honest probe keeps 127.0.0.1, so attackers start at 2
// or above.
func Sources(first, n int) []netip.Addr {
	out := make([]netip.Addr, 0, n)
	for i := range n {
		v := first + i
		out = append(out, netip.AddrFrom4([4]byte{127, byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	return out
}

// dialTimeout bounds one TCP connect: a connect that takes longer on
// loopback is an answer in itself (a full accept queue).
const dialTimeout = 5 * time.Second

// dialFrom connects to addr from src (port chosen by the kernel). rcvBuf,
// when positive, shrinks the socket's receive buffer before connecting, so
// a client that never reads makes the server's own buffers fill sooner.
func dialFrom(ctx context.Context, src netip.Addr, addr string, rcvBuf int) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: dialTimeout, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	if rcvBuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", addr, src, err)
	}
	return c.(*net.TCPConn), nil
}
