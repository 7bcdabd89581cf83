package testbin

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"tlslpd/certs"
)

// servingMessage is the log event with which tlslpd says it is bound and
// ready; it names the listeners' and the metrics server's addresses.
const servingMessage = "tlslpd serving"

// waitDelay bounds how long Wait waits for stderr to close after the
// process exits, should a child of it still hold the pipe.
const waitDelay = 5 * time.Second

// Home makes a working directory for the binary with certificates/ holding
// a fresh PKI under the reference's file names, where tlslpd looks for its
// certificates by default. The directory goes when the test ends.
func Home(t testing.TB) (dir string, pki *certs.PKI) {
	t.Helper()
	dir = t.TempDir()
	pki, err := certs.New(certs.Options{})
	if err != nil {
		t.Fatalf("testbin: make a PKI: %v", err)
	}
	if _, err := pki.Write(filepath.Join(dir, "certificates"), false); err != nil {
		t.Fatalf("testbin: write the PKI: %v", err)
	}
	return dir, pki
}

// Proc is one process a test runs: tlslpd, or a wrapper that execs it.
// Its stderr is kept as text and, line by line, as JSON log events.
type Proc struct {
	Cmd *exec.Cmd
	// Listen and Metrics are the listeners' addresses and the metrics URL
	// ("" when off) as the serving line names them; WaitServing sets them.
	Listen  []string
	Metrics string

	t       testing.TB
	exited  chan struct{}
	serving chan struct{} // closed at the first serving line

	mu      sync.Mutex
	text    bytes.Buffer
	partial []byte // a line not yet ended
	events  []map[string]any
	served  map[string]any
}

// Launch starts cmd with its stderr read by the returned Proc (it sets
// cmd.Stderr) and kills the process when the test ends.
func Launch(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, t: t, exited: make(chan struct{}), serving: make(chan struct{})}
	cmd.Stderr = p
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		t.Fatalf("testbin: start %v: %v", cmd.Args, err)
	}
	// Wait returns once stderr is read to its end, so whatever the process
	// logged before it exited is in Text and Events when Exited is closed.
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// Start is Launch, then WaitServing(within).
func Start(t testing.TB, cmd *exec.Cmd, within time.Duration) *Proc {
	t.Helper()
	p := Launch(t, cmd)
	p.WaitServing(within)
	return p
}

// WaitServing waits until the process logs that it serves and sets Listen
// and Metrics from that line. The test fails if the process exits first
// or does not serve within the bound; either way with its stderr.
func (p *Proc) WaitServing(within time.Duration) {
	p.t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case <-p.serving:
	case <-p.exited:
		select {
		case <-p.serving: // its last words before exiting
		default:
			p.t.Fatalf("tlslpd exited before serving (%v):\n%s", p.Cmd.ProcessState, p.Text())
		}
	case <-timer.C:
		p.t.Fatalf("tlslpd did not start serving within %v:\n%s", within, p.Text())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Listen = nil
	if l, ok := p.served["listen"].([]any); ok {
		for _, a := range l {
			if s, ok := a.(string); ok {
				p.Listen = append(p.Listen, s)
			}
		}
	}
	p.Metrics, _ = p.served["metrics"].(string)
}

// Write takes the process's stderr as it comes.
func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.text.Write(b)
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		p.line(p.partial[:i])
		p.partial = p.partial[i+1:]
	}
	// Keep the unended rest from pinning an ever larger array.
	p.partial = append([]byte(nil), p.partial...)
	return len(b), nil
}

// line records one line of stderr; p.mu is held.
func (p *Proc) line(l []byte) {
	var ev map[string]any
	if json.Unmarshal(l, &ev) != nil {
		return // not a JSON log event: in Text only
	}
	p.events = append(p.events, ev)
	if p.served == nil && ev["message"] == servingMessage {
		p.served = ev
		close(p.serving)
	}
}

// Text is all the process has written to stderr so far.
func (p *Proc) Text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.text.String()
}

// Events are the JSON log events the process has written so far, in order.
func (p *Proc) Events() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.events...)
}

// Logged waits up to within for a log event with this message and returns
// the first one; the test fails without one.
func (p *Proc) Logged(message string, within time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, ev := range p.Events() {
			if ev["message"] == message {
				return ev
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no log %q within %v in:\n%s", message, within, p.Text())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Exited is closed when the process has ended and its stderr is read.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// ExitCode waits up to within for the process to end and returns its exit
// status; the test fails if it is still running.
func (p *Proc) ExitCode(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(within):
		p.t.Fatalf("tlslpd still running after %v:\n%s", within, p.Text())
		return -1
	}
}

// Signal sends sig to the process; the test fails if it cannot.
func (p *Proc) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("testbin: signal %v: %v", sig, err)
	}
}
