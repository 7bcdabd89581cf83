// Package testlog captures what a component under test writes from its
// own goroutines (log lines, progress lines) so that the test can read it
// while the component runs, and reads JSON lines (zerolog's, a records
// file's) back as objects.
//
// Only _test.go files import it; it imports nothing of tlslpd, so internal
// tests of any package may use it, and it must never be linked into the
// daemon (it imports testing).
package testlog
