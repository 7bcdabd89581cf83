package version

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResolve(t *testing.T) {
	withVCS := func(rev, modified string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified},
			}}, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	module := func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}, true
	}
	tests := []struct {
		name       string
		stamp, rev string
		read       func() (*debug.BuildInfo, bool)
		want       Info
	}{
		{"stamped wins", "v1.2.3", "abc", withVCS("def", "false"), Info{"v1.2.3", "abc", "go1.26.8", false}},
		{"vcs fallback", "", "", withVCS("0123456789abcdef", "false"), Info{"devel-0123456789ab", "0123456789abcdef", "go1.26.8", false}},
		{"dirty tree", "", "", withVCS("0123456789abcdef", "true"), Info{"devel-0123456789ab-dirty", "0123456789abcdef", "go1.26.8", true}},
		{"module version", "", "", module, Info{"v1.4.0", "unknown", "go1.26.8", false}},
		{"nothing known", "", "", none, Info{"devel", "unknown", runtime.Version(), false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, resolve(tt.stamp, tt.rev, tt.read))
		})
	}
}

func TestStringNamesEverything(t *testing.T) {
	s := Info{Version: "v1.2.3", Revision: "abc", GoVersion: "go1.26.8"}.String()
	assert.Contains(t, s, "tlslpd v1.2.3")
	assert.Contains(t, s, "revision abc")
	assert.Contains(t, s, "go1.26.8")
}
