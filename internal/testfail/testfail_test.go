package testfail

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fn      func(tb testing.TB)
		failed  bool
		message string
	}{
		{"passes", func(tb testing.TB) { tb.Helper() }, false, ""},
		{"Fatalf", func(tb testing.TB) { tb.Fatalf("bad %d", 7); panic("not reached") }, true, "bad 7"},
		{"Fatal", func(tb testing.TB) { tb.Fatal("bad", 7); panic("not reached") }, true, "bad 7"},
		{"Errorf goes on", func(tb testing.TB) { tb.Errorf("one"); tb.Error("two") }, true, "one\ntwo"},
		{"require", func(tb testing.TB) { require.Equal(tb, 1, 2); panic("not reached") }, true, "Not equal"},
		{"FailNow", func(tb testing.TB) { tb.FailNow(); panic("not reached") }, true, ""},
		{"skip", func(tb testing.TB) { tb.Skip("later"); panic("not reached") }, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(t, tc.fn)
			assert.Equal(t, tc.failed, r.Failed)
			assert.Contains(t, r.Message, tc.message)
			if tc.message == "" {
				assert.Empty(t, r.Message)
			}
		})
	}
}

func TestCleanupsRunWithTheRealTest(t *testing.T) {
	ran := false
	t.Run("inner", func(t *testing.T) {
		Run(t, func(tb testing.TB) { tb.Cleanup(func() { ran = true }) })
		assert.False(t, ran, "not before the real test ends")
	})
	assert.True(t, ran)
}
