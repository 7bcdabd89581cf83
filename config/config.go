package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"tlslpd/cli"
	"tlslpd/protocol"
	"tlslpd/statemachine"
	"tlslpd/tlsbridge"
	"tlslpd/transport"
)

// ErrUsage is wrapped by every command-line error (exit status 2).
var ErrUsage = errors.New("usage")

// ErrHelp is returned when -h/--help was asked for; usage went to the
// given writer.
var ErrHelp = flag.ErrHelp

// Server is the daemon's whole configuration.
type Server struct {
	// Reference tlslp-server flags.
	Host         string
	Port         int
	ServerCert   string
	ServerKey    string
	CACert       string
	WorkTimeout  time.Duration
	OtherTimeout time.Duration
	Insecure     bool
	Session      statemachine.Config // --token, --random-string, --n_bits, --tutorial
	LogLevel     string
	// FreshTokens sends every session its own random token instead of
	// --token (Session.Token is then empty).
	FreshTokens bool
	// ReferenceLog writes the reference server's log lines to its log
	// file (and WARNING+ to stderr in its format); on by default with
	// --tutorial.
	ReferenceLog bool

	// tlslpd's own.
	MetricsAddr  string
	MetricsPprof bool
	// CertWatchInterval is how often the certificate files are checked
	// for changes (a Kubernetes Secret update, certbot); 0: only SIGHUP.
	CertWatchInterval time.Duration
	// ShowVersion: print the version and exit.
	ShowVersion      bool
	MaxConns         int
	HandshakeTimeout time.Duration
	MaxHandshakes    int
	LogFormat        string
	Loops            int

	// MaxSuspendedHandshakes and MaxSuspendedPerIP bound handshakes
	// waiting for their peers (0: tlsbridge's defaults).
	MaxSuspendedHandshakes int
	MaxSuspendedPerIP      int

	// Long-lived daemon operation.
	ConfigFile string
	Listen     []string // [scheme://]host:port[/path] each (see transport.ParseListen); replaces --host/--port when set
	// AllowPlain lets plain transports (tcp://, auto://, ws://) listen on
	// non-loopback addresses.
	AllowPlain bool
	// AutoWait is how long an auto:// listener waits for a client's first
	// byte before serving it plain.
	AutoWait      time.Duration
	ReusePort     bool
	DrainTimeout  time.Duration
	ShedDelay     time.Duration
	MaxConnsPerIP int
	// FailedHandshakesPerIP rates, per source address, TLS handshakes
	// that end without completing (see eventloop.Config); 0: off.
	FailedHandshakesPerIP float64
	MaxBufferedBytes      int
	Records               string
	RecordsMaxBytes       int64
	RecordsBackups        int
	StatusInterval        time.Duration
	GCPercent             int
	// Client identities (see the identity package): the client-certificate
	// policy (--insecure is ClientAuth none), SNI certificates, the
	// fingerprint lists and the per-identity session cap.
	ClientAuth          tlsbridge.ClientAuth
	SNI                 []tlsbridge.SNIFiles
	AllowIdentities     string
	DenyIdentities      string
	MaxConnsPerIdentity int
	// ProxyProtocolFrom are the sources allowed to open with a PROXY
	// protocol header (a load balancer); empty: PROXY protocol is off.
	ProxyProtocolFrom []netip.Prefix
	gcPercentSet      bool
}

// GCPercentToApply is the GC percentage the daemon should set, or false
// to leave the runtime's own (an explicit GOGC in the environment wins
// over our default, but not over --gc-percent).
func (c *Server) GCPercentToApply(gogcEnv string) (int, bool) {
	if c.gcPercentSet || gogcEnv == "" {
		return c.GCPercent, true
	}
	return 0, false
}

// Defaults returns the reference defaults plus ours.
func Defaults() Server {
	return Server{
		Host:         protocol.DefaultHost,
		Port:         protocol.DefaultPort,
		ServerCert:   protocol.DefaultServerCert,
		ServerKey:    protocol.DefaultServerKey,
		CACert:       protocol.DefaultCACert,
		WorkTimeout:  protocol.DefaultWorkTimeout,
		OtherTimeout: protocol.DefaultOtherTimeout,
		Session: statemachine.Config{
			Token:        protocol.DefaultToken,
			RandomString: protocol.DefaultRandomString,
			NBits:        protocol.DefaultNBits,
		},
		LogLevel:         protocol.DefaultLogLevel,
		MaxConns:         15000,
		HandshakeTimeout: 10 * time.Second,
		DrainTimeout:     30 * time.Second,
		MaxBufferedBytes: 256 << 10,
		// Ten a second after 200 at once: a peer that stalls or is shed
		// gets that many first flights computed; completed handshakes
		// cost nothing, so no load test is refused by it.
		FailedHandshakesPerIP: 10,
		RecordsMaxBytes:       100 << 20,
		RecordsBackups:        5,
		StatusInterval:        time.Minute,
		GCPercent:             200,
		CertWatchInterval:     10 * time.Second,
		AutoWait:              transport.DefaultAutoWait,
	}
}

// repeatable is implemented by flags that may be given more than once
// (and as a YAML list in a --config file); every other flag takes one value.
type repeatable interface{ repeatable() }

func (listFlag) repeatable()   {}
func (prefixFlag) repeatable() {}
func (sniFlag) repeatable()    {}

// listFlag is a repeatable string flag.
type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	if s == "" {
		return fmt.Errorf("empty address")
	}
	*l.v = append(*l.v, s)
	return nil
}

// prefixFlag is a repeatable source-address flag: a CIDR, or one IP
// (which means just that address).
type prefixFlag struct{ v *[]netip.Prefix }

func (p prefixFlag) String() string {
	if p.v == nil {
		return ""
	}
	out := make([]string, len(*p.v))
	for i, pf := range *p.v {
		out[i] = pf.String()
	}
	return strings.Join(out, ",")
}

func (p prefixFlag) Set(s string) error {
	pf, err := ParseSource(s)
	if err != nil {
		return err
	}
	*p.v = append(*p.v, pf)
	return nil
}

// ParseSource reads a CIDR ("10.0.0.0/8", "2001:db8::/32") or a single
// IP ("10.1.2.3", a /32 or /128). Host bits set in a CIDR are an error:
// "10.1.2.3/8" more likely is a typo than a wish for all of 10/8.
func ParseSource(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("want a CIDR or an IP address, e.g. 10.0.0.0/8")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("want a CIDR or an IP address, e.g. 10.0.0.0/8")
	}
	if pf.Masked() != pf {
		return netip.Prefix{}, fmt.Errorf("host bits are set; did you mean %s?", pf.Masked())
	}
	return pf, nil
}

// seconds is a flag holding a positive whole number of seconds, as the
// reference's `type=positive int` flags do.
type seconds struct{ d *time.Duration }

// maxSeconds is the most whole seconds a time.Duration holds.
const maxSeconds = int(math.MaxInt64 / int64(time.Second))

func (s seconds) String() string {
	if s.d == nil {
		return ""
	}
	return strconv.FormatInt(int64(*s.d/time.Second), 10)
}

func (s seconds) Set(v string) error {
	n, err := cli.ParseInt(v)
	if err != nil || n <= 0 {
		return fmt.Errorf("want a positive whole number of seconds, in decimal")
	}
	if n > maxSeconds {
		// A larger count would wrap around in a time.Duration.
		return fmt.Errorf("want at most %d seconds (292 years)", maxSeconds)
	}
	*s.d = time.Duration(n) * time.Second
	return nil
}

// FlagSet binds every server flag to cfg.
func FlagSet(name string, cfg *Server) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&cfg.Host, "host", cfg.Host, "address to bind (reference default)")
	fs.IntVar(&cfg.Port, "port", cfg.Port, "TCP port to listen on")
	fs.StringVar(&cfg.ServerCert, "server-cert", cfg.ServerCert, "server certificate (PEM)")
	fs.StringVar(&cfg.ServerKey, "server-key", cfg.ServerKey, "server private key (PEM)")
	fs.StringVar(&cfg.CACert, "ca-cert", cfg.CACert, "CA that client certificates must chain to (PEM)")
	fs.Var(seconds{&cfg.WorkTimeout}, "work-timeout", "seconds a client may take to answer WORK")
	fs.Var(seconds{&cfg.OtherTimeout}, "other-timeout", "seconds a client may take for every other step")
	fs.BoolVar(&cfg.Insecure, "insecure", cfg.Insecure, "do not request client certificates (loopback binds only)")
	fs.StringVar(&cfg.Session.Token, "token", cfg.Session.Token, "WORK token sent to every session (the reference's default)")
	fs.BoolVar(&cfg.ReferenceLog, "reference-log", cfg.ReferenceLog,
		"log as the reference server does: '<time> <LEVEL> tlslp.server: <message>' lines to $XDG_STATE_HOME/tlslp/logs/server.log "+
			"(default ~/.local/state/tlslp/logs/), WARNING and above to stderr in that format, tlslpd's own INFO lines off "+
			"(default: on with --tutorial, whose log is rewritten each run with a fixed time; --reference-log=false keeps tlslpd's logs)")
	fs.BoolVar(&cfg.FreshTokens, "fresh-tokens", cfg.FreshTokens,
		"send each session a fresh random 64-letter token instead of --token, so a suffix cannot be replayed. "+
			"Caveat: the reference client's solver only tries suffixes of ceil(n_bits/6) characters and hangs until "+
			"--work-timeout for about 37% of random tokens at n_bits 6, 12, 18, 24, 30 (1.8% at 28)")
	fs.StringVar(&cfg.Session.RandomString, "random-string", cfg.Session.RandomString, "random string sent with body requests")
	fs.IntVar(&cfg.Session.NBits, "n_bits", cfg.Session.NBits, "PoW difficulty: trailing zero bits required (0..64)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "DEBUG, INFO, WARNING, ERROR or CRITICAL")
	fs.BoolVar(&cfg.Session.Tutorial, "tutorial", cfg.Session.Tutorial, "serve one session with the 8 commands in order, then exit 0")

	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "serve Prometheus /metrics, /healthz and /readyz on this address, e.g. 127.0.0.1:9100 or :9100 (off when empty)")
	fs.DurationVar(&cfg.CertWatchInterval, "cert-watch-interval", cfg.CertWatchInterval, "check the certificate, key and CA files this often and reload them when they change (0: only on SIGHUP)")
	fs.BoolVar(&cfg.ShowVersion, "version", cfg.ShowVersion, "print the version and exit")
	fs.BoolVar(&cfg.MetricsPprof, "metrics-pprof", cfg.MetricsPprof, "serve /debug/pprof/ on --metrics-addr even when it is not a loopback address")
	fs.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "most concurrent connections; more are closed at once")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", cfg.HandshakeTimeout, "deadline for the TLS handshake")
	fs.IntVar(&cfg.MaxHandshakes, "max-handshakes", cfg.MaxHandshakes, "TLS handshakes computing at once; one waiting for its peer holds no slot (0: one per core)")
	fs.IntVar(&cfg.MaxSuspendedHandshakes, "max-suspended-handshakes", cfg.MaxSuspendedHandshakes, "TLS handshakes waiting for their peers, each holding its crypto/tls state; past it the longest waiting is ended (0: 2048)")
	fs.IntVar(&cfg.MaxSuspendedPerIP, "max-suspended-handshakes-per-ip", cfg.MaxSuspendedPerIP, "of those, most from one source address (IPv6: one /64) (0: half of --max-suspended-handshakes)")
	fs.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "json or console (default: console on a terminal, json otherwise; colour only on a terminal)")
	fs.IntVar(&cfg.Loops, "loops", cfg.Loops, "event loops (0: GOMAXPROCS, which Go derives from the cores or the container's CPU limit)")

	fs.StringVar(&cfg.ConfigFile, "config", cfg.ConfigFile, "YAML file holding any of these flags by name; flags given here override it")
	fs.Var(listFlag{&cfg.Listen}, "listen", "listen on [scheme://]host:port (repeatable; replaces --host/--port); scheme tls (default), tcp (plain), auto (TLS or plain by the first byte), ws or wss (WebSocket, path default /tlslp: ws://host:port/path)")
	fs.BoolVar(&cfg.AllowPlain, "allow-plain", cfg.AllowPlain, "let plain transports (tcp://, auto://, ws://) listen on non-loopback addresses: sessions travel unencrypted and unauthenticated")
	fs.DurationVar(&cfg.AutoWait, "auto-wait", cfg.AutoWait, "auto:// listeners serve plain to a client that sends nothing for this long (a plain client waits for HELLO)")
	fs.BoolVar(&cfg.ReusePort, "reuseport", cfg.ReusePort, "set SO_REUSEPORT so several processes can share a port")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "on SIGTERM/SIGINT, how long sessions in flight may finish before they get FAIL")
	fs.DurationVar(&cfg.ShedDelay, "shed-delay", cfg.ShedDelay, "close new connections at once while TLS handshakes wait longer than this (0: --handshake-timeout/10; negative: never)")
	fs.IntVar(&cfg.MaxConnsPerIP, "max-conns-per-ip", cfg.MaxConnsPerIP, "most concurrent connections from one source address (0: no cap)")
	fs.Float64Var(&cfg.FailedHandshakesPerIP, "failed-handshakes-per-ip", cfg.FailedHandshakesPerIP, "TLS handshakes per second from one source address (IPv6: one /64) that may end without completing, after a burst of 20 s worth; past it the address's connections are refused at accept (0: no rate)")
	fs.IntVar(&cfg.MaxBufferedBytes, "max-buffered-bytes", cfg.MaxBufferedBytes, "close a connection whose unsent bytes pass this (0: no cap)")
	fs.StringVar(&cfg.Records, "records", cfg.Records, "append one JSON line per finished session to this file")
	fs.Int64Var(&cfg.RecordsMaxBytes, "records-max-bytes", cfg.RecordsMaxBytes, "rotate the records file when it would pass this size")
	fs.IntVar(&cfg.RecordsBackups, "records-backups", cfg.RecordsBackups, "rotated records files to keep")
	fs.DurationVar(&cfg.StatusInterval, "status-interval", cfg.StatusInterval, "log a status line this often (0: never)")
	fs.IntVar(&cfg.GCPercent, "gc-percent", cfg.GCPercent, "Go GC target percentage (like GOGC): higher spends memory to save CPU")
	fs.Var(clientAuthFlag{&cfg.ClientAuth}, "client-auth", "client certificates: verify (against --ca-cert), any (any well-formed one, self-signed included, named by its SHA-256 fingerprint), optional (verified when shown) or none (as --insecure)")
	fs.Var(sniFlag{&cfg.SNI}, "sni", "NAME=CERT,KEY: serve this certificate to clients asking for NAME (a host name or *.domain; repeatable); others get --server-cert")
	fs.StringVar(&cfg.AllowIdentities, "allow-identities", cfg.AllowIdentities, "file of client certificate SHA-256 fingerprints, one a line: only these are served (reloaded on SIGHUP and when it changes)")
	fs.StringVar(&cfg.DenyIdentities, "deny-identities", cfg.DenyIdentities, "file of client certificate SHA-256 fingerprints refused in the handshake (reloaded on SIGHUP and when it changes)")
	fs.IntVar(&cfg.MaxConnsPerIdentity, "max-conns-per-identity", cfg.MaxConnsPerIdentity, "most concurrent sessions of one client certificate (0: no cap)")
	fs.Var(prefixFlag{&cfg.ProxyProtocolFrom}, "proxy-protocol-from", "accept a PROXY protocol v1/v2 header from this CIDR or IP, a load balancer (repeatable; off when none); other sources are served directly")
	return fs
}

// Parse reads args (without the program name) into a validated Server.
// Errors wrap ErrUsage and read as one line; --help writes usage to out
// and returns ErrHelp.
func Parse(name string, args []string, out io.Writer) (Server, error) {
	cfg := Defaults()
	fs := FlagSet(name, &cfg)
	if err := cli.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cli.Exit(fs, err, out, io.Discard)
			return cfg, ErrHelp
		}
		return cfg, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if cfg.ConfigFile != "" {
		if err := applyFile(fs, cfg.ConfigFile); err != nil {
			return cfg, err
		}
	}
	tokenSet, refLogSet, clientAuthSet := false, false, false
	fs.Visit(func(f *flag.Flag) {
		clientAuthSet = clientAuthSet || f.Name == "client-auth"
		cfg.gcPercentSet = cfg.gcPercentSet || f.Name == "gc-percent"
		tokenSet = tokenSet || f.Name == "token"
		refLogSet = refLogSet || f.Name == "reference-log"
	})
	if !refLogSet {
		cfg.ReferenceLog = cfg.Session.Tutorial
	}
	if cfg.FreshTokens {
		switch {
		case tokenSet:
			return cfg, fmt.Errorf("%w: --fresh-tokens and --token exclude each other", ErrUsage)
		case cfg.Session.Tutorial:
			return cfg, fmt.Errorf("%w: --fresh-tokens does not apply to --tutorial, which always sends the reference token", ErrUsage)
		}
		cfg.Session.Token = ""
	}
	if cfg.Insecure && clientAuthSet && cfg.ClientAuth != tlsbridge.ClientAuthNone {
		return cfg, fmt.Errorf("%w: --insecure and --client-auth %v exclude each other (--insecure is --client-auth none)", ErrUsage, cfg.ClientAuth)
	}
	if cfg.ClientAuth == tlsbridge.ClientAuthNone {
		cfg.Insecure = true // one spelling for the rest of the daemon
	}
	if cfg.Insecure {
		cfg.ClientAuth = tlsbridge.ClientAuthNone
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// clientAuthFlag is --client-auth.
type clientAuthFlag struct{ v *tlsbridge.ClientAuth }

func (f clientAuthFlag) String() string {
	if f.v == nil {
		return tlsbridge.ClientAuthVerify.String()
	}
	return f.v.String()
}

func (f clientAuthFlag) Set(s string) error {
	a, err := tlsbridge.ParseClientAuth(s)
	if err != nil {
		return fmt.Errorf("want verify, any, optional or none")
	}
	*f.v = a
	return nil
}

// sniFlag is the repeatable --sni NAME=CERT,KEY.
type sniFlag struct{ v *[]tlsbridge.SNIFiles }

func (f sniFlag) String() string {
	if f.v == nil {
		return ""
	}
	out := make([]string, len(*f.v))
	for i, s := range *f.v {
		out[i] = s.Name + "=" + s.Cert + "," + s.Key
	}
	return strings.Join(out, " ")
}

func (f sniFlag) Set(s string) error {
	sni, err := tlsbridge.ParseSNI(s)
	if err != nil {
		return err
	}
	for _, have := range *f.v {
		if have.Name == sni.Name {
			return fmt.Errorf("name %q is given twice", sni.Name)
		}
	}
	*f.v = append(*f.v, sni)
	return nil
}

// Validate checks values and combinations; errors wrap ErrUsage.
func (c *Server) Validate() error {
	if err := c.Session.Validate(); err != nil {
		return fmt.Errorf("%w: %s", ErrUsage, strings.TrimPrefix(err.Error(), statemachine.ErrConfig.Error()+": "))
	}
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("%w: --port %d is outside 0..65535", ErrUsage, c.Port)
	case c.Host == "":
		return fmt.Errorf("%w: --host must not be empty", ErrUsage)
	case c.WorkTimeout <= 0:
		return fmt.Errorf("%w: --work-timeout must be positive", ErrUsage)
	case c.OtherTimeout <= 0:
		return fmt.Errorf("%w: --other-timeout must be positive", ErrUsage)
	case c.HandshakeTimeout <= 0:
		return fmt.Errorf("%w: --handshake-timeout must be positive", ErrUsage)
	case c.MaxConns <= 0:
		return fmt.Errorf("%w: --max-conns must be positive", ErrUsage)
	case c.MaxHandshakes < 0:
		return fmt.Errorf("%w: --max-handshakes must not be negative", ErrUsage)
	case c.MaxSuspendedHandshakes < 0 || c.MaxSuspendedPerIP < 0:
		return fmt.Errorf("%w: --max-suspended-handshakes and --max-suspended-handshakes-per-ip must not be negative", ErrUsage)
	case c.Loops < 0:
		return fmt.Errorf("%w: --loops must not be negative", ErrUsage)
	case c.LogFormat != "" && c.LogFormat != "json" && c.LogFormat != "console":
		return fmt.Errorf("%w: --log-format %q: want json or console", ErrUsage, c.LogFormat)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		return err
	}
	switch {
	case c.DrainTimeout < 0:
		return fmt.Errorf("%w: --drain-timeout must not be negative", ErrUsage)
	case c.MaxConnsPerIP < 0:
		return fmt.Errorf("%w: --max-conns-per-ip must not be negative", ErrUsage)
	case c.FailedHandshakesPerIP < 0 || math.IsNaN(c.FailedHandshakesPerIP) || math.IsInf(c.FailedHandshakesPerIP, 0):
		return fmt.Errorf("%w: --failed-handshakes-per-ip must be a finite rate, not negative", ErrUsage)
	case c.MaxBufferedBytes < 0:
		return fmt.Errorf("%w: --max-buffered-bytes must not be negative", ErrUsage)
	case c.RecordsMaxBytes <= 0:
		return fmt.Errorf("%w: --records-max-bytes must be positive", ErrUsage)
	case c.RecordsBackups < 0:
		return fmt.Errorf("%w: --records-backups must not be negative", ErrUsage)
	case c.CertWatchInterval < 0:
		return fmt.Errorf("%w: --cert-watch-interval must not be negative", ErrUsage)
	case c.StatusInterval < 0:
		return fmt.Errorf("%w: --status-interval must not be negative", ErrUsage)
	case c.StatusInterval > 0 && c.StatusInterval < 100*time.Millisecond:
		// Shorter floods the log (1ns wrote 300,000 lines in 2 s).
		return fmt.Errorf("%w: --status-interval %s: want 0 (off) or at least 100ms", ErrUsage, c.StatusInterval)
	case c.CertWatchInterval > 0 && c.CertWatchInterval < 10*time.Millisecond:
		// Each check stats every certificate file: shorter is a busy loop.
		return fmt.Errorf("%w: --cert-watch-interval %s: want 0 (SIGHUP only) or at least 10ms", ErrUsage, c.CertWatchInterval)
	case c.GCPercent < 10:
		return fmt.Errorf("%w: --gc-percent must be at least 10", ErrUsage)
	case c.MaxConnsPerIdentity < 0:
		return fmt.Errorf("%w: --max-conns-per-identity must not be negative", ErrUsage)
	}
	if c.ClientAuth == tlsbridge.ClientAuthNone {
		for _, f := range []struct {
			name string
			set  bool
		}{{"--allow-identities", c.AllowIdentities != ""}, {"--deny-identities", c.DenyIdentities != ""}, {"--max-conns-per-identity", c.MaxConnsPerIdentity > 0}} {
			if f.set {
				return fmt.Errorf("%w: %s needs client certificates (--client-auth verify, any or optional), not --insecure", ErrUsage, f.name)
			}
		}
	}
	if c.AutoWait <= 0 {
		return fmt.Errorf("%w: --auto-wait must be positive", ErrUsage)
	}
	bound := map[string]string{} // address -> the --listen that binds it
	for _, l := range c.Listen {
		parsed, err := transport.ParseListen(l)
		if err != nil {
			return fmt.Errorf("%w: --listen %q: %v", ErrUsage, l, err)
		}
		n, err := cli.ParseInt(parsed.Port)
		if err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("%w: --listen %q: port outside 0..65535", ErrUsage, l)
		}
		// The loops listen with SO_REUSEPORT, so a second listener on the
		// same address would bind too, and the kernel would hand each
		// connection to one of them at random.
		if n != 0 {
			addr := gnetAddr(canonicalHost(parsed.Host), strconv.Itoa(int(n)))
			if first, ok := bound[addr]; ok {
				return fmt.Errorf("%w: --listen %q and %q are the same address: the kernel would split connections between them at random; give each its own port", ErrUsage, first, l)
			}
			bound[addr] = l
		}
		if c.Insecure && !IsLoopbackHost(parsed.Host) {
			return fmt.Errorf("%w: --insecure refuses to serve on non-loopback address %q (use localhost, 127.0.0.0/8 or ::1)", ErrUsage, l)
		}
		if transport.Plain(parsed.Transport) && !c.AllowPlain && !IsLoopbackHost(parsed.Host) {
			return fmt.Errorf("%w: --listen %q is plain (unencrypted) and refuses a non-loopback address unless --allow-plain is given", ErrUsage, l)
		}
	}
	if c.Insecure && len(c.Listen) == 0 && !IsLoopbackHost(c.Host) {
		return fmt.Errorf("%w: --insecure refuses to serve on non-loopback host %q (use localhost, 127.0.0.0/8 or ::1)", ErrUsage, c.Host)
	}
	if c.MetricsAddr != "" {
		_, port, err := net.SplitHostPort(c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("%w: --metrics-addr %q: %v", ErrUsage, c.MetricsAddr, err)
		}
		if _, err := net.LookupPort("tcp", port); err != nil {
			return fmt.Errorf("%w: --metrics-addr %q: port %q: want 0..65535", ErrUsage, c.MetricsAddr, port)
		}
	}
	return nil
}

// MetricsOnLoopback reports whether --metrics-addr binds loopback only
// (an empty host binds every interface).
func (c *Server) MetricsOnLoopback() bool {
	host, _, err := net.SplitHostPort(c.MetricsAddr)
	return err == nil && host != "" && IsLoopbackHost(host)
}

// IsLoopbackHost accepts "localhost" and literal loopback IPs only, so an
// insecure server can never be reached from another machine.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

// ListenAddr is the gnet address for --host/--port ("localhost" binds
// 127.0.0.1 as the reference's IPv4 socket does).
func (c *Server) ListenAddr() string {
	return gnetAddr(c.Host, strconv.Itoa(c.Port))
}

// ListenAddrs are every gnet address to serve: --listen's, or else
// --host/--port's; Listeners()[i] is ListenAddrs()[i]'s transport.
func (c *Server) ListenAddrs() []string {
	ls := c.Listeners()
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = gnetAddr(l.Host, l.Port)
	}
	return out
}

// ServesTLS reports whether any listener can serve TLS, and so needs the
// server's certificate and key: a daemon with only plain listeners
// (tcp://, ws://) runs without them.
func (c *Server) ServesTLS() bool {
	for _, l := range c.Listeners() {
		if transport.Encrypted(l.Transport) {
			return true
		}
	}
	return false
}

// Listeners are the parsed listen addresses (--host/--port serve TLS),
// ports in decimal.
func (c *Server) Listeners() []transport.Listen {
	if len(c.Listen) == 0 {
		return []transport.Listen{{Transport: transport.TLS, Host: c.Host, Port: strconv.Itoa(c.Port)}}
	}
	out := make([]transport.Listen, 0, len(c.Listen))
	for _, l := range c.Listen {
		parsed, _ := transport.ParseListen(l) // validated
		n, _ := cli.ParseInt(parsed.Port)     // decimal, like every number
		parsed.Port = strconv.Itoa(int(n))
		out = append(out, parsed)
	}
	return out
}

// canonicalHost writes an IP address one way ("::1", not
// "0:0:0:0:0:0:0:1"); host names stay as they are.
func canonicalHost(host string) string {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return ip.String()
	}
	return host
}

func gnetAddr(host, port string) string {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	return "tcp://" + net.JoinHostPort(host, port)
}

// ParseLevel maps the reference's Python logging levels onto zerolog.
func ParseLevel(level string) (zerolog.Level, error) {
	switch strings.ToUpper(level) {
	case "DEBUG":
		return zerolog.DebugLevel, nil
	case "INFO":
		return zerolog.InfoLevel, nil
	case "WARNING", "WARN":
		return zerolog.WarnLevel, nil
	case "ERROR":
		return zerolog.ErrorLevel, nil
	case "CRITICAL":
		return zerolog.FatalLevel, nil
	}
	return zerolog.NoLevel, fmt.Errorf("%w: --log-level %q: want DEBUG, INFO, WARNING, ERROR or CRITICAL", ErrUsage, level)
}
