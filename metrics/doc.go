// Package metrics defines tlslpd's Prometheus metrics on an explicit
// registry (never the global default) and serves them over HTTP with the
// health endpoints.
//
// It owns metric names, labels and buckets. It must not know about gnet,
// TLS engines or the protocol beyond the label values callers pass in.
package metrics
