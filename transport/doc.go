// Package transport turns a listener's bytes into the tlslp line stream
// for the session, as engines with the TLS engine's interface
// (tlsbridge.Engine): plain TCP (bytes pass through), auto (TLS or plain,
// decided on the client's first byte or its silence) and WebSocket (RFC
// 6455 framing over plain TCP or over the TLS engine). It also reads the
// transport scheme of a listen address.
//
// It owns transport names and the transport engines. It must not do I/O,
// keep clocks (the session's wheel times auto-detect's wait, see
// FirstByteWaiter), parse lines (codec) or implement TLS (tlsbridge).
package transport
