// Package certs makes development and test PKI: a CA, a server certificate
// and a client certificate, ECDSA P-256, as in-memory PEM or written to a
// directory under the reference tlslp file names.
//
// It owns key generation and the on-disk layout of certificates/. It must
// not load certificates for serving (tlsbridge does that) nor open sockets.
package certs
