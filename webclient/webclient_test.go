package webclient

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPageNamesItsEndpointAndLoadsNothing(t *testing.T) {
	p := string(Page(`/a"b`))
	assert.Contains(t, p, `<meta name="tlslp-path" content="/a&#34;b">`, "the path is escaped into the page")
	assert.NotContains(t, p, "{{WS_PATH}}")
	// No external assets: nothing fetched from elsewhere.
	assert.False(t, regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`).MatchString(p), "an external asset")
	assert.False(t, strings.Contains(p, "http://") || strings.Contains(p, "https://"))
	assert.Contains(t, p, "new Worker(", "WORK is solved in a Web Worker")
}
