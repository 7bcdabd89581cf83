package client

import (
	"bufio"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tlslpd/internal/testenv"
)

// startFake runs script on the first TLS connection (mTLS not required) and
// returns the port. The shared environment (PKI, baseline, in-process
// tlslpd, closed port) is tlslpd/internal/testenv.
func startFake(t *testing.T, env *testenv.Env, script func(c *tls.Conn, r *bufio.Reader)) int {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{env.ServerTLS}})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		script(c.(*tls.Conn), bufio.NewReader(c))
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}
