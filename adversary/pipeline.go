package adversary

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"tlslpd/pow"
	"tlslpd/protocol"
)

// Pipeline is a client that never reads: after the handshake it writes a
// whole session's replies (HELLOBACK, a valid suffix, 20 body replies, OK)
// over and over, without waiting for a single request, into a small
// receive buffer. A server must serve the first session from the pipelined
// bytes, end it, and close, without buffering the rest or waiting on a
// reader that never comes.
type Pipeline struct {
	Target Target
	Source netip.Addr
	// Token, RandomString and NBits are the server's (--token,
	// --random-string, --n_bits); empty/zero mean the protocol defaults.
	Token        string
	RandomString string
	NBits        int
	// Bytes to write in all; 0 means 1 MiB.
	Bytes int
	// Patience bounds a write that makes no progress; 0 means 10 s.
	Patience time.Duration
}

// PipelineResult says how the server dealt with the pipeliner.
type PipelineResult struct {
	Written int
	// ClosedByServer: a write failed because the server closed (rather
	// than stalling past Patience or the whole write going through).
	ClosedByServer bool
	Elapsed        time.Duration
}

// Run performs the attack once.
func (p Pipeline) Run(ctx context.Context) (PipelineResult, error) {
	if err := p.Target.check(); err != nil {
		return PipelineResult{}, err
	}
	if p.Token == "" {
		p.Token = protocol.DefaultToken
	}
	if p.RandomString == "" {
		p.RandomString = protocol.DefaultRandomString
	}
	if p.NBits == 0 {
		p.NBits = protocol.DefaultNBits
	}
	if p.Bytes <= 0 {
		p.Bytes = 1 << 20
	}
	if p.Patience <= 0 {
		p.Patience = 10 * time.Second
	}
	sol, err := pow.Solve(ctx, p.Token, p.NBits, 1)
	if err != nil {
		return PipelineResult{}, err
	}
	sum := sha256.Sum256([]byte(p.Token + p.RandomString))
	var session bytes.Buffer
	session.WriteString("HELLOBACK\n" + sol.Suffix + "\n")
	for range protocol.BodyRequests {
		session.WriteString(hex.EncodeToString(sum[:]) + " pipelined\n")
	}
	session.WriteString("OK\n")
	stream := bytes.Repeat(session.Bytes(), p.Bytes/session.Len()+1)[:p.Bytes]

	raw, err := dialFrom(ctx, p.Source, p.Target.Addr, 4096)
	if err != nil {
		return PipelineResult{}, err
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	cc := p.Target.TLS.Clone()
	if cc.ServerName == "" {
		cc.ServerName = "localhost"
	}
	conn := tls.Client(raw, cc)
	_ = raw.SetDeadline(time.Now().Add(p.Patience))
	if err := conn.HandshakeContext(ctx); err != nil {
		return PipelineResult{}, fmt.Errorf("pipeline handshake: %w", err)
	}
	start := time.Now()
	res := PipelineResult{}
	for len(stream) > 0 && ctx.Err() == nil {
		chunk := stream[:min(len(stream), 16<<10)]
		_ = raw.SetWriteDeadline(time.Now().Add(p.Patience))
		n, err := conn.Write(chunk)
		res.Written += n
		stream = stream[n:]
		if err != nil {
			res.Elapsed = time.Since(start)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return res, nil // the server neither reads nor closes
			}
			res.ClosedByServer = ctx.Err() == nil
			return res, nil
		}
	}
	res.Elapsed = time.Since(start)
	return res, ctx.Err()
}
