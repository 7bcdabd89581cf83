package daemon

import (
	"crypto/x509"
	"fmt"
	"strings"

	"tlslpd/identity"
	"tlslpd/tlsbridge"
)

// newIdentityRules reads --allow-identities and --deny-identities and
// sets up --max-conns-per-identity; the decision counts are exported
// from startup. Without client certificates there is nothing to judge.
func (d *Daemon) newIdentityRules() error {
	if d.cfg.ClientAuth == tlsbridge.ClientAuthNone {
		return nil
	}
	ids, err := identity.New(identity.Options{
		AllowFile: d.cfg.AllowIdentities, DenyFile: d.cfg.DenyIdentities, MaxConnsPerIdentity: d.cfg.MaxConnsPerIdentity,
	})
	if err != nil {
		return fmt.Errorf("identity rules: %w", err)
	}
	d.ids = ids
	d.met.Registry.MustRegister(ids.Collector())
	return nil
}

// checkIdentity is the TLS policy's Identity hook: the lists' decision
// on a handshake's certificate (leaf nil: none shown).
func (d *Daemon) checkIdentity(leaf *x509.Certificate) error {
	if leaf == nil {
		return d.ids.Check(identity.Fingerprint{}, false)
	}
	return d.ids.Check(identity.Of(leaf.Raw), true)
}

// reloadIdentities re-reads the fingerprint lists; a bad file keeps the
// lists in force and says why. The caller holds reloadMu.
func (d *Daemon) reloadIdentities(cause string) error {
	if d.ids == nil || len(d.ids.Files()) == 0 {
		return nil
	}
	if err := d.ids.Reload(); err != nil {
		d.reloadFailures.Add(1)
		d.log.Error().Err(err).Str("cause", cause).Msg("reload failed; keeping the current identity lists")
		return err
	}
	allow, deny := d.ids.Sizes()
	ev := d.log.Info().Str("cause", cause).Int("deny", deny)
	if allow >= 0 {
		ev = ev.Int("allow", allow)
	}
	ev.Msg("identity lists reloaded")
	return nil
}

// warnSNIMismatch logs an --sni certificate that does not cover its own
// name: clients that verify it would refuse it. It is served all the same
// (a test setup may want exactly that).
func (d *Daemon) warnSNIMismatch(cfg tlsbridge.Config) {
	for _, s := range cfg.SNI {
		leaf := s.Certificate.Leaf
		if leaf == nil {
			var err error
			if leaf, err = x509.ParseCertificate(s.Certificate.Certificate[0]); err != nil {
				continue // Load has judged it already
			}
		}
		host := s.Name
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			host = "sni-check." + rest // any one label under the wildcard
		}
		if err := leaf.VerifyHostname(host); err != nil {
			d.log.Warn().Str("sni", s.Name).Strs("names", leaf.DNSNames).Msg("the --sni certificate is not valid for its name; clients that verify it will refuse it")
		}
	}
}
