package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"defaults shortened", Config{Duration: 20 * time.Millisecond, Rounds: 1, Workers: 2}},
		{"long suffix", Config{Duration: 20 * time.Millisecond, Rounds: 2, Workers: 1, SuffixLen: 200, NBits: 8, Token: "AUTH"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), tc.cfg)
			require.NoError(t, err)
			for name, m := range map[string]Measurement{"verify one": res.VerifyOne, "sha one": res.SHA256One, "verify all": res.VerifyAll, "sha all": res.SHA256All} {
				assert.Positive(t, m.Ops, name)
				assert.InDelta(t, float64(m.Ops)/m.Seconds, m.PerSecond, 1e-6*m.PerSecond, name)
				assert.InDelta(t, m.PerSecond/float64(m.Goroutines), m.PerCore, 1e-6*m.PerSecond, name)
			}
			assert.Equal(t, 1, res.VerifyOne.Goroutines)
			assert.Equal(t, max(tc.cfg.Workers, 1), res.VerifyAll.Goroutines)
			assert.InDelta(t, res.VerifyOne.PerSecond/res.SHA256One.PerSecond, res.RatioOne, 1e-9)
			assert.InDelta(t, res.VerifyAll.PerSecond/res.SHA256All.PerSecond, res.RatioAll, 1e-9)
		})
	}
}

func TestRunConfigErrors(t *testing.T) {
	for _, cfg := range []Config{{SuffixLen: -1}, {NBits: 65}, {Duration: -time.Second}, {SuffixLen: 1001}} {
		_, err := Run(context.Background(), cfg)
		require.ErrorIs(t, err, ErrConfig)
	}
}

func TestNextSuffix(t *testing.T) {
	tests := []struct{ in, want string }{{"000", "001"}, {"009", "010"}, {"999", "000"}, {"5", "6"}}
	for _, tc := range tests {
		s := []byte(tc.in)
		nextSuffix(s)
		assert.Equal(t, tc.want, string(s))
	}
}

func TestMainCLI(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		var out, errb bytes.Buffer
		require.Equal(t, 0, Main([]string{"--duration", "10ms", "--rounds", "1", "--workers", "2", "--json"}, &out, &errb), errb.String())
		var res Result
		require.NoError(t, json.Unmarshal(out.Bytes(), &res))
		assert.Equal(t, SchemaVersion, res.SchemaVersion)
		assert.Positive(t, res.VerifyAll.Ops)
		assert.Positive(t, res.RatioOne)
	})
	t.Run("text", func(t *testing.T) {
		var out, errb bytes.Buffer
		require.Equal(t, 0, Main([]string{"--duration", "10ms", "--rounds", "1"}, &out, &errb), errb.String())
		assert.Contains(t, out.String(), "Verifier.Check, all cores")
		assert.Contains(t, out.String(), "sha256.Sum256, one core")
		assert.Contains(t, out.String(), "ratio Verifier/sha256")
	})
	for _, args := range [][]string{{"--duration", "0s"}, {"--n-bits", "99"}, {"--nope"}, {"x"}, {"--rounds", "-1"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, 2, Main(args, &out, &errb))
			assert.Equal(t, 1, strings.Count(errb.String(), "\n"), errb.String())
			assert.Empty(t, out.String())
		})
	}
}
