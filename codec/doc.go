// Package codec frames a byte stream into protocol lines: it splits on
// '\n', carries partial lines across chunks, and rejects a line the moment
// it passes MaxLineLength or when it is not UTF-8.
//
// It owns framing only. It must not know what a line means (statemachine
// does), and must not touch sockets, TLS or timers: bytes in, lines out.
package codec
