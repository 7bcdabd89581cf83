package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time by the Makefile and the Dockerfile:
//
//	-ldflags "-X tlslpd/version.stamped=v1.2.3 -X tlslpd/version.stampedRevision=<git sha>"
//
// They are never written at run time.
var (
	stamped         string
	stampedRevision string
)

// Info describes the running binary.
type Info struct {
	Version   string // e.g. "v1.2.3", "v1.2.3-4-gabcdef0-dirty"; "devel" when nothing is known
	Revision  string // VCS commit; "unknown" when not recorded
	GoVersion string // toolchain that built the binary
	Modified  bool   // built from a tree with uncommitted changes (from build info only)
}

// Get returns the stamped version, falling back to the build info Go
// embeds (go build inside a git checkout records the commit; go install
// module@version records the version).
func Get() Info {
	return resolve(stamped, stampedRevision, debug.ReadBuildInfo)
}

func resolve(stamp, rev string, read func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: stamp, Revision: rev, GoVersion: runtime.Version()}
	if bi, ok := read(); ok {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Revision == "" {
					info.Revision = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
		if info.Revision != "" {
			info.Version += "-" + short(info.Revision)
			if info.Modified {
				info.Version += "-dirty"
			}
		}
	}
	if info.Revision == "" {
		info.Revision = "unknown"
	}
	return info
}

func short(rev string) string { return rev[:min(len(rev), 12)] }

// String is the one line `tlslpd version` prints.
func (i Info) String() string {
	return fmt.Sprintf("tlslpd %s (revision %s, %s, %s/%s)", i.Version, i.Revision, i.GoVersion, runtime.GOOS, runtime.GOARCH)
}
