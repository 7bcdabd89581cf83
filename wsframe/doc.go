// Package wsframe is RFC 6455 WebSocket framing done on byte slices: the
// opening handshake's request parsed from a buffer and its 101 response,
// frame headers, the message decoder (fragments reassembled, control
// frames handed out between them, masks removed in place) and the
// server's frames.
//
// It owns the wire format only. It must not do I/O, keep clocks or know
// the tlslp protocol; transport/ puts it between an engine and a session.
package wsframe
