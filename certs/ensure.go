package certs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoCAKey is returned when files must be signed but the directory's CA
// has no private key next to it (ca_key.pem).
var ErrNoCAKey = errors.New("the CA's private key is missing")

// ErrClientName is returned for a client name that cannot name files.
var ErrClientName = errors.New("want a plain name (it names the files)")

// Ensured says what Ensure did with each file.
type Ensured struct {
	Written []string
	Skipped []string // already there, left alone
}

// Ensure makes dir hold a complete PKI under the reference names, like the
// reference's certificate script run again: existing files are skipped
// and left alone, only missing ones are written. A missing server or
// client pair is signed by the CA already there (which needs ca_key.pem);
// a missing CA certificate with leaf files present is an error, since a
// new CA would not have signed them.
func Ensure(dir string, opts Options) (Ensured, error) {
	var res Ensured
	files := FilesIn(dir)
	exists := func(p string) (bool, error) {
		_, err := os.Lstat(p)
		if err == nil {
			return true, nil
		}
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("check %s: %w", p, err)
	}
	have := map[string]bool{}
	for _, p := range []string{files.CACert, files.CAKey, files.ServerCert, files.ServerKey, files.ClientCert, files.ClientKey} {
		ok, err := exists(p)
		if err != nil {
			return res, err
		}
		have[p] = ok
	}
	serverOK := have[files.ServerCert] && have[files.ServerKey]
	clientOK := have[files.ClientCert] && have[files.ClientKey]
	if !have[files.CACert] {
		for _, p := range []string{files.CAKey, files.ServerCert, files.ServerKey, files.ClientCert, files.ClientKey} {
			if have[p] {
				return res, fmt.Errorf("%s is missing but %s exists: a new CA would not match it (pass --force to replace them all)", files.CACert, p)
			}
		}
		pki, err := New(opts)
		if err != nil {
			return res, err
		}
		written, err := pki.Write(dir, false)
		if err != nil {
			return res, err
		}
		res.Written = []string{written.CACert, written.CAKey, written.ServerCert, written.ServerKey, written.ClientCert, written.ClientKey}
		return res, nil
	}
	res.Skipped = append(res.Skipped, files.CACert)
	if have[files.CAKey] {
		res.Skipped = append(res.Skipped, files.CAKey)
	}
	if serverOK && clientOK {
		res.Skipped = append(res.Skipped, files.ServerCert, files.ServerKey, files.ClientCert, files.ClientKey)
		return res, nil
	}
	if !have[files.CAKey] {
		return res, fmt.Errorf("%s: %w, so the missing certificates cannot be signed (pass --force to make a new PKI)", files.CAKey, ErrNoCAKey)
	}
	ca, err := LoadCA(files.CACert, files.CAKey)
	if err != nil {
		return res, err
	}
	type job struct {
		ok        bool
		cert, key string
		issue     func(Options) (Pair, error)
	}
	for _, j := range []job{
		{serverOK, files.ServerCert, files.ServerKey, ca.IssueServer},
		{clientOK, files.ClientCert, files.ClientKey, ca.IssueClient},
	} {
		if j.ok {
			res.Skipped = append(res.Skipped, j.cert, j.key)
			continue
		}
		pair, err := j.issue(opts)
		if err != nil {
			return res, err
		}
		if err := writePair(pair, j.cert, j.key); err != nil {
			return res, err
		}
		res.Written = append(res.Written, j.cert, j.key)
	}
	return res, nil
}

// IssueClientFiles signs a client certificate named name with the CA in
// dir and writes it as <dir>/<name>_cert.pem and <dir>/<name>_private_key.pem
// (the key 0600). Existing files are refused unless overwrite is set.
func IssueClientFiles(dir, name string, overwrite bool, opts Options) (cert, key string, err error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return "", "", fmt.Errorf("client name %q: %w", name, ErrClientName)
	}
	files := FilesIn(dir)
	ca, err := LoadCA(files.CACert, files.CAKey)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("%w (run 'tlslpd certs' first to make the CA): %w", ErrNoCAKey, err)
		}
		return "", "", err
	}
	cert = filepath.Join(dir, name+"_cert.pem")
	key = filepath.Join(dir, name+"_private_key.pem")
	if !overwrite {
		for _, p := range []string{cert, key} {
			if _, err := os.Lstat(p); err == nil {
				return cert, key, fmt.Errorf("%s: %w (pass --force to replace)", p, ErrExist)
			}
		}
	}
	opts.ClientCommonName = name
	pair, err := ca.IssueClient(opts)
	if err != nil {
		return cert, key, err
	}
	return cert, key, writePair(pair, cert, key)
}

func writePair(p Pair, certPath, keyPath string) error {
	if err := os.MkdirAll(filepath.Dir(certPath), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(certPath), err)
	}
	if err := writeFileAtomic(keyPath, p.KeyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, p.CertPEM, 0o644)
}
