package metrics

import (
	"net"
	"sync"
)

// MaxHTTPConns bounds the metrics endpoint's open connections. Every one
// holds a file descriptor, and the daemon must never let descriptors run
// out: gnet stops its event loop when accept fails with EMFILE. The live
// monitor's event streams take up to 16 (monitor.Options.MaxWatchers) and
// scrapers and probes a handful, so 48 leaves /healthz and /metrics room
// however many streams are open; more wait in the listen backlog, holding
// no descriptor, and silent ones are closed by ReadHeaderTimeout.
const MaxHTTPConns = 48

// limitListener accepts at most n connections open at once.
type limitListener struct {
	net.Listener
	slots chan struct{}
}

func limitConns(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
