// Package certs makes development and test PKI: a CA (ten years, its key
// kept as ca_key.pem), a server certificate and client certificates,
// ECDSA P-256, as in-memory PEM or written to a directory under the
// reference tlslp file names; and `tlslpd certs`, which like the
// reference's script skips files that exist.
//
// It owns key generation and the on-disk layout of certificates/. It must
// not load certificates for serving (tlsbridge does that) nor open sockets.
package certs
