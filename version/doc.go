// Package version says which build of tlslpd is running: the version and
// revision stamped by the linker (make build passes -ldflags -X), or else
// what the Go toolchain recorded in the binary (module version, VCS
// revision).
//
// It owns those strings only; it must not import any other tlslpd package.
package version
