package compat

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// Exit statuses of the server: 0 after the tutorial's session and after a
// stop by SIGTERM or SIGINT (also when sent twice at once, as coreutils'
// timeout does), 2 for bad flags, 1 when it cannot run.
func TestServerExitStatuses(t *testing.T) {
	h := newHome(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		s := h.startServer(t, "--n_bits", "4")
		s.Signal(sig)
		s.Signal(sig)
		assert.Equal(t, 0, s.ExitCode(bound), sig.String())
	}
	code, _, stderr := h.run(t, "--tutorial", "--server-cert", "missing.pem")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "missing.pem")
	code, _, _ = h.run(t, "--bogus")
	assert.Equal(t, 2, code)
}

// Exit statuses of the client: 0 for a completed session and for one the
// server ended with its injected FAIL (the protocol working), 1 when no
// server answers or the session fails, 2 for bad flags.
func TestClientExitStatuses(t *testing.T) {
	h := newHome(t)
	s := h.startServer(t, "--n_bits", "4", "--random-string", "r4nd")
	injected, completed := false, false
	for i := 0; i < 40 && !(injected && completed); i++ {
		code, stdout, stderr := h.run(t, "client", "--host", "127.0.0.1", "--ports", itoa(s.port), "--quiet")
		require.Equal(t, 0, code, stderr)
		switch {
		case strings.Contains(stdout, `"FAIL r4nd"`):
			injected = true
			assert.Contains(t, stdout, "random injected failure, not an error")
		case strings.Contains(stdout, "session completed"):
			completed = true
		default:
			t.Fatalf("unexpected output %q", stdout)
		}
	}
	assert.True(t, injected, "an injected FAIL in 40 sessions")

	code, _, stderr := h.run(t, "client", "--host", "127.0.0.1", "--ports", itoa(closedPort(t)), "--other-timeout", "2")
	assert.Equal(t, 1, code, stderr)

	// The server's own timeout ends the session while the client solves:
	// a FAIL for an error, exit 1 — and at once, not at the client's timeout.
	slow := h.startServer(t, "--n_bits", "40", "--work-timeout", "1")
	code, _, stderr = h.run(t, "client", "--host", "127.0.0.1", "--ports", itoa(slow.port), "--quiet")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "FAIL Timed out waiting for the WORK suffix (--work-timeout).")

	code, _, _ = h.run(t, "client", "--bogus")
	assert.Equal(t, 2, code)
}

// The client runs an external solver like the reference's: in its own
// directory, with only LC_ALL=C, taking the first RESULT: line.
func TestClientWorkBinary(t *testing.T) {
	h := newHome(t)
	s := h.startServer(t, "--n_bits", "0", "--tutorial")
	dir := t.TempDir()
	bin := filepath.Join(dir, "solve")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\necho \"$1 $2\" > args\nenv > env\necho RESULT:anything\n"), 0o755))
	code, stdout, stderr := h.run(t, "client", "--host", "127.0.0.1", "--ports", itoa(s.port), "--work-binary", bin)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "session completed")
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	require.NoError(t, err)
	assert.Equal(t, refToken+" 0\n", string(args))
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	require.NoError(t, err)
	assert.Contains(t, string(env), "LC_ALL=C")
	assert.NotContains(t, string(env), "XDG_STATE_HOME")
}

// `tlslpd certs` run again skips what exists and exits 0, like the
// reference's script; the CA key is there to sign more clients.
func TestCertsRerun(t *testing.T) {
	h := &home{dir: t.TempDir()}
	code, _, stderr := h.run(t, "certs")
	require.Equal(t, 0, code, stderr)
	info, err := os.Stat(filepath.Join(h.dir, "certificates", "ca_key.pem"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	code, stdout, stderr := h.run(t, "certs")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "exists, skipping")
	code, _, stderr = h.run(t, "certs", "client", "--name", "bob")
	require.Equal(t, 0, code, stderr)
	_, err = os.Stat(filepath.Join(h.dir, "certificates", "bob_cert.pem"))
	require.NoError(t, err)
}

// --insecure on both sides: the server asks for no certificate, the client
// checks none and needs no files.
func TestInsecureBothSides(t *testing.T) {
	h := newHome(t)
	s := h.startServer(t, "--insecure", "--n_bits", "4", "--tutorial")
	code, stdout, stderr := h.run(t, "client", "--insecure", "--host", "127.0.0.1", "--ports", itoa(s.port),
		"--client-cert", "absent.pem", "--private-key", "absent.pem", "--ca-cert", "absent.pem", "--quiet")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "session completed")
}
