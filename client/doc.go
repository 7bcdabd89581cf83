// Package client is a tlslp client: a library that performs one session
// against a tlslp server (Run) and the `tlslpd client` command line (Main),
// which keeps the reference tlslp-client's flags and defaults.
//
// It owns the client side of a session: dialing the port list, the TLS
// handshake as a client, parsing server request lines and building replies.
// It must not import or touch the server packages (eventloop, statemachine,
// tlsbridge, codec); it shares only tlslpd/protocol constants and the PoW
// solver in tlslpd/pow with them, so a bug in the server cannot hide behind
// the same bug in its client.
package client
