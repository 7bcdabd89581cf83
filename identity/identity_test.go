package identity

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fp(b byte) Fingerprint {
	var f Fingerprint
	for i := range f {
		f[i] = b
	}
	return f
}

func TestParseFingerprint(t *testing.T) {
	want := fp(0xab)
	hexs := want.String()
	colons := strings.ToUpper(strings.Join(splitPairs(hexs), ":"))
	for _, s := range []string{hexs, strings.ToUpper(hexs), colons, "sha256:" + hexs, "SHA256=" + colons, "  " + hexs + "\t"} {
		got, err := ParseFingerprint(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", hexs[:62], hexs + "ab", "zz" + hexs[2:], "md5:" + hexs} {
		_, err := ParseFingerprint(s)
		assert.ErrorIs(t, err, ErrFingerprint, s)
	}
}

func splitPairs(s string) []string {
	var out []string
	for i := 0; i < len(s); i += 2 {
		out = append(out, s[i:i+2])
	}
	return out
}

func TestTransient(t *testing.T) {
	c, err := Transient("me", time.Hour)
	require.NoError(t, err)
	require.NotNil(t, c.Leaf)
	assert.Equal(t, "CN=me", c.Leaf.Subject.String())
	assert.Equal(t, c.Leaf.Subject.String(), c.Leaf.Issuer.String(), "self-signed")
	assert.NoError(t, c.Leaf.CheckSignature(c.Leaf.SignatureAlgorithm, c.Leaf.RawTBSCertificate, c.Leaf.Signature))
	assert.WithinDuration(t, time.Now().Add(time.Hour), c.Leaf.NotAfter, time.Minute)
	d, err := Transient("me", 0)
	require.NoError(t, err)
	assert.NotEqual(t, Of(c.Certificate[0]), Of(d.Certificate[0]), "each is a new identity")
}

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestRulesDecisionsAndReload(t *testing.T) {
	dir := t.TempDir()
	a, b, c := fp(1), fp(2), fp(3)
	openssl := "sha256 Fingerprint=" + strings.ToUpper(strings.Join(splitPairs(b.String()), ":"))
	allow := write(t, dir, "allow", "# who may come\n"+a.String()+" alice\n\n"+openssl+"\n")
	deny := write(t, dir, "deny", b.String()+"  # b lost her key\n")
	r, err := New(Options{AllowFile: allow, DenyFile: deny})
	require.NoError(t, err)
	assert.Equal(t, []string{allow, deny}, r.Files())

	assert.NoError(t, r.Check(a, true))
	assert.ErrorIs(t, r.Check(b, true), ErrDenied, "deny wins over allow")
	assert.ErrorIs(t, r.Check(c, true), ErrNotAllowed)
	assert.ErrorIs(t, r.Check(Fingerprint{}, false), ErrNotAllowed, "no certificate is not on an allow list")

	// A reload swaps both lists in.
	write(t, dir, "allow", c.String()+"\n")
	write(t, dir, "deny", "")
	require.NoError(t, r.Reload())
	assert.ErrorIs(t, r.Check(a, true), ErrNotAllowed)
	assert.NoError(t, r.Check(c, true))
	allowN, denyN := r.Sizes()
	assert.Equal(t, 1, allowN)
	assert.Equal(t, 0, denyN)

	// A broken file keeps the lists in force and says where.
	write(t, dir, "deny", "# ok\nnot-a-fingerprint\n")
	err = r.Reload()
	require.Error(t, err)
	assert.Contains(t, err.Error(), deny+":2")
	assert.NoError(t, r.Check(c, true), "the old lists stay")
	require.NoError(t, os.Remove(allow))
	assert.Error(t, r.Reload())
	assert.NoError(t, r.Check(c, true))

	assert.Equal(t, uint64(4), r.Decided(DecisionAllowed))
	assert.Equal(t, uint64(1), r.Decided(DecisionDenied))
	assert.Equal(t, uint64(3), r.Decided(DecisionNotAllowed))
	assert.Equal(t, uint64(0), r.Decided(DecisionAnonymous))
}

func TestRulesWithoutLists(t *testing.T) {
	r, err := New(Options{})
	require.NoError(t, err)
	assert.NoError(t, r.Check(fp(9), true))
	assert.NoError(t, r.Check(Fingerprint{}, false))
	assert.Equal(t, uint64(1), r.Decided(DecisionAnonymous))
	assert.False(t, r.Limited())
	assert.True(t, r.Acquire(fp(9)), "no cap")

	_, err = New(Options{AllowFile: filepath.Join(t.TempDir(), "missing")})
	assert.Error(t, err, "a missing list file fails at startup")
	_, err = New(Options{MaxConnsPerIdentity: -1})
	assert.Error(t, err)
}

func TestAcquireRelease(t *testing.T) {
	r, err := New(Options{MaxConnsPerIdentity: 3})
	require.NoError(t, err)
	a := fp(7)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r.Acquire(a) {
				mu.Lock()
				got++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 3, got)
	assert.Equal(t, uint64(7), r.Decided(DecisionOverLimit))
	assert.True(t, r.Acquire(fp(8)), "another identity has its own count")
	r.Release(a)
	assert.True(t, r.Acquire(a))
	for range 3 {
		r.Release(a)
	}
	r.Release(fp(8))
	assert.Equal(t, 0, r.Sessions(a))
	for i := range r.shards {
		assert.Empty(t, r.shards[i].conns, "released identities leave nothing behind")
	}
}

func TestCollectorHasEveryDecisionAtZero(t *testing.T) {
	r, err := New(Options{})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	n, err := testutil.GatherAndCount(reg, "tlslpd_identity_decisions_total")
	require.NoError(t, err)
	assert.Equal(t, len(Decisions()), n)
	require.NoError(t, r.Check(fp(1), true))
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tlslpd_identity_decisions_total Client identity rule decisions: handshakes allowed, anonymous, denied, not_allowed; sessions over_limit.
# TYPE tlslpd_identity_decisions_total counter
tlslpd_identity_decisions_total{decision="allowed"} 1
tlslpd_identity_decisions_total{decision="anonymous"} 0
tlslpd_identity_decisions_total{decision="denied"} 0
tlslpd_identity_decisions_total{decision="not_allowed"} 0
tlslpd_identity_decisions_total{decision="over_limit"} 0
`), "tlslpd_identity_decisions_total"))
}

// A line pasted from `openssl x509 -noout -fingerprint -sha256` works.
func TestListTakesOpenSSLLines(t *testing.T) {
	b := fp(0xb0)
	for _, prefix := range []string{"sha256 Fingerprint=", "SHA256 Fingerprint="} {
		line := prefix + strings.ToUpper(strings.Join(splitPairs(b.String()), ":"))
		r, err := New(Options{AllowFile: write(t, t.TempDir(), "allow", line+"\n")})
		require.NoError(t, err)
		assert.NoError(t, r.Check(b, true), line)
		assert.ErrorIs(t, r.Check(fp(0xb1), true), ErrNotAllowed)
	}
}

func TestCheckAndAcquireDoNotAllocate(t *testing.T) {
	deny := write(t, t.TempDir(), "deny", fp(2).String()+"\n")
	r, err := New(Options{DenyFile: deny, MaxConnsPerIdentity: 4})
	require.NoError(t, err)
	a := fp(1)
	r.Acquire(a) // the map entry exists from here on
	allocs := testing.AllocsPerRun(100, func() {
		_ = r.Check(a, true)
		if r.Acquire(a) {
			r.Release(a)
		}
	})
	assert.Zero(t, allocs, "a handshake's check and a session's count allocate nothing")
}
