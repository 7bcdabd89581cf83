package tlsbridge

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
)

// SNICertificate is a certificate served to clients that ask for Name
// (TLS server name indication): a host name ("a.example.com") or a
// one-label wildcard ("*.example.com", which matches "x.example.com" but
// neither "example.com" nor "x.y.example.com").
type SNICertificate struct {
	Name        string
	Certificate tls.Certificate
}

// sniTable chooses a certificate by the client's server name: an exact
// name first, then a wildcard, else the default.
type sniTable struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // keyed by the part after "*."
	def      *tls.Certificate
}

// NormalizeServerName lowercases a server name and drops a trailing dot,
// the form names are matched (and recorded) in.
func NormalizeServerName(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

func newSNITable(def tls.Certificate, entries []SNICertificate) (*sniTable, error) {
	t := &sniTable{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}, def: &def}
	for i := range entries {
		e := &entries[i]
		name := NormalizeServerName(e.Name)
		if err := checkSNIName(name); err != nil {
			return nil, fmt.Errorf("SNI name %q: %w", e.Name, err)
		}
		if err := checkCertificate(e.Certificate); err != nil {
			return nil, fmt.Errorf("SNI certificate for %q: %w", e.Name, err)
		}
		m, key := t.exact, name
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			m, key = t.wildcard, rest
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("SNI name %q is given twice", e.Name)
		}
		cert := e.Certificate
		m[key] = &cert
	}
	return t, nil
}

func checkSNIName(name string) error {
	rest, _ := strings.CutPrefix(name, "*.")
	if rest == "" || strings.ContainsAny(rest, "*/:, \t") || strings.HasPrefix(rest, ".") || strings.Contains(rest, "..") {
		return fmt.Errorf("want a host name or *.domain")
	}
	return nil
}

// checkCertificate checks a certificate has a key and a leaf that parses.
func checkCertificate(c tls.Certificate) error {
	if len(c.Certificate) == 0 {
		return fmt.Errorf("no certificate")
	}
	if c.PrivateKey == nil {
		return fmt.Errorf("the certificate has no private key")
	}
	if c.Leaf == nil {
		if _, err := x509.ParseCertificate(c.Certificate[0]); err != nil {
			return fmt.Errorf("certificate does not parse: %w", err)
		}
	}
	return nil
}

// choose returns the certificate for a server name.
func (t *sniTable) choose(serverName string) *tls.Certificate {
	if serverName == "" {
		return t.def
	}
	name := NormalizeServerName(serverName)
	if c, ok := t.exact[name]; ok {
		return c
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		if c, ok := t.wildcard[parent]; ok {
			return c
		}
	}
	return t.def
}

// applySNI makes t choose its certificate by the client's server name
// when SNI certificates are configured.
func applySNI(t *tls.Config, cfg Config) error {
	if len(cfg.SNI) == 0 {
		return nil
	}
	table, err := newSNITable(cfg.Certificate, cfg.SNI)
	if err != nil {
		return err
	}
	t.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return table.choose(hello.ServerName), nil
	}
	return nil
}
