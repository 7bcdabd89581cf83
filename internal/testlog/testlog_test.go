package testlog

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/internal/testfail"
)

func TestBufferTakesConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				fmt.Fprintf(&b, `{"message":"m%d","j":%d}`+"\n", i%2, j)
				_ = b.String() // a reader at the same time (go test -race)
			}
		}()
	}
	wg.Wait()
	assert.Len(t, b.Events(t), 800)
	assert.Len(t, b.WithMessage(t, "m1"), 400)
	b.Reset()
	assert.Empty(t, b.String())
	assert.Empty(t, b.Events(t))
}

func TestWithMessageKeepsOrder(t *testing.T) {
	var b Buffer
	_, _ = b.Write([]byte("{\"message\":\"a\",\"n\":1}\n{\"message\":\"b\"}\n{\"message\":\"a\",\"n\":2}\n"))
	got := b.WithMessage(t, "a")
	require.Len(t, got, 2)
	assert.Equal(t, 1.0, got[0]["n"])
	assert.Equal(t, 2.0, got[1]["n"])
}

// fails says whether fn fails the test it is given.
func fails(t *testing.T, fn func(tb testing.TB)) bool { return testfail.Run(t, fn).Failed }

func TestEventsFailOnALineThatIsNotJSON(t *testing.T) {
	var b Buffer
	_, _ = b.Write([]byte("{\"message\":\"a\"}\nplain text\n"))
	assert.True(t, fails(t, func(tb testing.TB) { b.Events(tb) }))
}

func TestKeysInTheirOrder(t *testing.T) {
	assert.Equal(t, []string{"z", "a", "m"}, Keys(t, []byte(`{"z":1,"a":{"x":[1,2]},"m":"s"}`)))
	assert.True(t, fails(t, func(tb testing.TB) { Keys(tb, []byte(`["z"]`)) }))
}

func TestParseLinesSkipsEmptyLines(t *testing.T) {
	got := ParseLines(t, []byte("{\"a\":1}\n\n{\"b\":2}\n"))
	assert.Equal(t, []map[string]any{{"a": 1.0}, {"b": 2.0}}, got)
	assert.Empty(t, ParseLines(t, nil))
	assert.True(t, fails(t, func(tb testing.TB) { ParseLines(tb, []byte("{}\n[1]\n")) }), "an array is not an object")
}
