package daemon

import (
	"net"
	"strconv"

	"tlslpd/config"
	"tlslpd/eventloop"
	"tlslpd/monitor"
	"tlslpd/transport"
	"tlslpd/webclient"
)

// listeners builds one eventloop listener per listen address, each with
// its transport's engine factory over the one TLS server.
func listeners(cfg *config.Server, tlsServer transport.Factory) []eventloop.Listener {
	ls := cfg.Listeners()
	out := make([]eventloop.Listener, len(ls))
	addrs := cfg.ListenAddrs()
	for i, l := range ls {
		var engines eventloop.EngineFactory
		switch l.Transport {
		case transport.TCP:
			engines = transport.PlainFactory{}
		case transport.Auto:
			engines = transport.AutoFactory{TLS: tlsServer, Wait: cfg.AutoWait}
		case transport.WS:
			engines = &transport.WSFactory{Inner: transport.PlainFactory{}, Name: transport.WS, Path: l.Path, Page: webclient.Page(l.Path)}
		case transport.WSS:
			engines = &transport.WSFactory{Inner: tlsServer, Name: transport.WSS, Path: l.Path, Page: webclient.Page(l.Path)}
		default:
			engines = tlsServer
		}
		out[i] = eventloop.Listener{Addr: addrs[i], Transport: l.Transport, Engines: engines}
	}
	return out
}

// listenNames are the listen addresses with their transports, for the
// "tlslpd serving" line: the configured host, the bound port (port 0 asks
// the kernel for one). bound is in listener order, one per listener when
// every listener could be inspected; otherwise the configured ports stay.
func listenNames(cfg *config.Server, bound []net.Addr) []string {
	ls := cfg.Listeners()
	out := make([]string, len(ls))
	for i, l := range ls {
		if len(bound) == len(ls) {
			if t, ok := bound[i].(*net.TCPAddr); ok {
				l.Port = strconv.Itoa(t.Port)
			}
		}
		out[i] = l.String()
	}
	return out
}

// monitorSession is what the live monitor's table shows of a record.
func monitorSession(r *eventloop.Record) monitor.Session {
	return monitor.Session{
		End: r.Start.Add(r.Duration), Remote: r.Remote, Transport: r.Transport, Outcome: r.Outcome,
		LastStep: r.LastStep, Duration: r.Duration.Seconds(), Fingerprint: r.Fingerprint,
	}
}
