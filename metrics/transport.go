package metrics

import "github.com/prometheus/client_golang/prometheus"

// TransportNames are the transport label's values (transport.Names, less
// auto, which resolves to tls or tcp for sessions; listeners keep it).
func transportLabels() []string { return []string{"tls", "tcp", "auto", "ws", "wss"} }

type transportCollectors struct {
	accepted map[string]prometheus.Counter
	sessions map[string]prometheus.Counter
}

func newTransportCollectors(register func(prometheus.Collector)) transportCollectors {
	return transportCollectors{
		accepted: labelled(register, "tlslpd_transport_connections_total", "Connections accepted, by the transport of the listener that accepted them.", "transport", transportLabels()),
		sessions: labelled(register, "tlslpd_transport_sessions_total", "Sessions started, by transport (an auto listener's say tls or tcp).", "transport", transportLabels()),
	}
}

// TransportAccepted counts a connection accepted on a listener of transport.
func (m *Metrics) TransportAccepted(transport string) { count(m.transport.accepted, transport) }

// TransportSession counts a session started over transport.
func (m *Metrics) TransportSession(transport string) { count(m.transport.sessions, transport) }

// TransportSessionsCounter is the counter behind TransportSession (nil for
// an unknown transport).
func (m *Metrics) TransportSessionsCounter(transport string) prometheus.Counter {
	return m.transport.sessions[transport]
}
