package testfail

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Result is how a helper ended the test it was given.
type Result struct {
	Failed  bool
	Message string // what it reported, one line per report
}

// stand is the stand-in: the real test for everything but failing
// (Cleanup, TempDir, Log, ...), a recorder for failing.
type stand struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msgs   []string
}

// Run calls fn with a stand-in for t on a goroutine of its own, waits for
// it to return or to end at FailNow (or Fatal, Fatalf, SkipNow), and says
// whether it failed the stand-in. Cleanups fn registers run with t's.
func Run(t testing.TB, fn func(tb testing.TB)) Result {
	t.Helper()
	s := &stand{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(s)
	}()
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	return Result{Failed: s.failed, Message: strings.Join(s.msgs, "\n")}
}

func (s *stand) report(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true
	s.msgs = append(s.msgs, msg)
}

func (s *stand) Helper() {}

func (s *stand) Fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true
}

func (s *stand) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *stand) FailNow() {
	s.Fail()
	runtime.Goexit()
}

// Error formats as testing's does, operands always apart.
func (s *stand) Error(args ...any)                 { s.report(strings.TrimSuffix(fmt.Sprintln(args...), "\n")) }
func (s *stand) Errorf(format string, args ...any) { s.report(fmt.Sprintf(format, args...)) }

func (s *stand) Fatal(args ...any) {
	s.Error(args...)
	runtime.Goexit()
}

func (s *stand) Fatalf(format string, args ...any) {
	s.Errorf(format, args...)
	runtime.Goexit()
}

func (s *stand) SkipNow() { runtime.Goexit() }

func (s *stand) Skip(args ...any) { runtime.Goexit() }

func (s *stand) Skipf(format string, args ...any) { runtime.Goexit() }
