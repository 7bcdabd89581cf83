// Package proxyproto parses PROXY protocol headers (versions 1 and 2, as
// HAProxy and most TCP load balancers send them) from the start of a
// connection's byte stream.
//
// It owns the header formats only: it works on a byte slice the caller
// already holds (gnet's inbound buffer), allocates nothing, and must not do
// I/O or decide which peers may send a header (the event loop does).
package proxyproto
