package certs

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"tlslpd/cli"
)

// Main runs `tlslpd certs` and `tlslpd certs client`. Exit status: 0 done
// (also when every file already existed: they are skipped, as the
// reference's script does), 1 a file could not be made, 2 bad flags.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "client" {
		return clientMain(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("tlslpd certs", flag.ContinueOnError)
	dir := fs.String("dir", "certificates", "directory to write into")
	force := fs.Bool("force", false, "replace every file with a new CA, server and client certificate")
	fs.Bool("if-missing", true, "accepted for old scripts; skipping existing files is the default")
	hosts := fs.String("hosts", strings.Join(DefaultHosts(), ","), "comma-separated names and IPs for the server certificate")
	if err := cli.Parse(fs, args); err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	list, err := ParseHosts(*hosts)
	if err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	opts := Options{Hosts: list}
	if *force {
		pki, err := New(opts)
		if err == nil {
			var f Files
			if f, err = pki.Write(*dir, true); err == nil {
				for _, p := range []string{f.CACert, f.CAKey, f.ServerCert, f.ServerKey, f.ClientCert, f.ClientKey} {
					fmt.Fprintf(stdout, "wrote %s\n", p)
				}
				return 0
			}
		}
		fmt.Fprintf(stderr, "tlslpd certs: %s\n", cli.OneLine(err))
		return 1
	}
	res, err := Ensure(*dir, opts)
	for _, p := range res.Skipped {
		fmt.Fprintf(stdout, "%s exists, skipping\n", p)
	}
	for _, p := range res.Written {
		fmt.Fprintf(stdout, "wrote %s\n", p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd certs: %s\n", cli.OneLine(err))
		return 1
	}
	return 0
}

func clientMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tlslpd certs client", flag.ContinueOnError)
	dir := fs.String("dir", "certificates", "directory holding ca_cert.pem and ca_key.pem; the new files go there too")
	name := fs.String("name", "", "the client's name: subject CN and file names <dir>/<name>_cert.pem, <dir>/<name>_private_key.pem (required)")
	force := fs.Bool("force", false, "replace that client's existing files")
	if err := cli.Parse(fs, args); err != nil {
		return cli.Exit(fs, err, stdout, stderr)
	}
	if *name == "" {
		fmt.Fprintln(stderr, "tlslpd certs client: --name is required")
		return 2
	}
	cert, key, err := IssueClientFiles(*dir, *name, *force, Options{})
	if err != nil {
		fmt.Fprintf(stderr, "tlslpd certs client: %s\n", cli.OneLine(err))
		if errors.Is(err, ErrClientName) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\nwrote %s\nuse: tlslpd client --client-cert %s --private-key %s\n", cert, key, shellWord(cert), shellWord(key))
	return 0
}

// shellWord quotes s for a POSIX shell when it holds anything but plain
// path characters, so the printed command can be pasted as it is.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+:@,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ParseHosts reads --hosts: comma-separated DNS names (a leading "*."
// wildcard allowed) and IP addresses, spaces around them ignored. An empty
// item or a name a certificate cannot carry is an error: it would make a
// certificate that TLS clients refuse or that matches nothing.
func ParseHosts(s string) ([]string, error) {
	var out []string
	for _, item := range strings.Split(s, ",") {
		h := strings.TrimSpace(item)
		if h == "" {
			return nil, fmt.Errorf("--hosts %q: empty name (want comma-separated host names and IPs)", s)
		}
		if _, err := netip.ParseAddr(h); err != nil && !validDNSName(h) {
			return nil, fmt.Errorf("--hosts %q: %q is neither a host name nor an IP address", s, h)
		}
		out = append(out, h)
	}
	return out, nil
}

// validDNSName accepts letters, digits and '-' in dot-separated labels of
// at most 63 bytes (253 in all), and a leading "*." wildcard.
func validDNSName(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
