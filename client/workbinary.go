package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"tlslpd/protocol"
)

// ErrWorkBinary is wrapped when the --work-binary solver fails.
var ErrWorkBinary = errors.New("work binary failed")

// resultPrefix starts the solver's answer line.
const resultPrefix = "RESULT:"

// RunWorkBinary solves WORK with an external program the way the
// reference client does: it runs "BINARY TOKEN N_BITS" in the binary's
// directory with only LC_ALL=C in its environment and takes the suffix
// from the first line of its standard output that starts with "RESULT:"
// (the rest of that line, without surrounding spaces). The program is
// stopped once that line is read, or when ctx ends.
func RunWorkBinary(ctx context.Context, binary, token string, nBits int) (string, error) {
	path, err := filepath.Abs(binary)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrWorkBinary, binary, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, token, strconv.Itoa(nBits))
	cmd.Dir = filepath.Dir(path)
	cmd.Env = []string{"LC_ALL=C"}
	// The solver may be a script whose children inherit its stdout: stop
	// its whole process group, not just it, or a child left running would
	// hold the pipe open and keep the client waiting past --work-timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{b: &stderr, max: 4096}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrWorkBinary, err)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrWorkBinary, err)
	}
	// Reading stops when ctx ends, whoever still holds the pipe's other end.
	stopClosing := context.AfterFunc(ctx, func() { _ = stdout.Close() })
	defer stopClosing()
	suffix, found := "", false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), resultPrefix); ok {
			suffix, found = strings.TrimSpace(rest), true
			break
		}
	}
	if found {
		cancel() // the answer is in; the program need not linger
	}
	waitErr := cmd.Wait()
	switch {
	case found:
	case ctx.Err() != nil:
		return "", fmt.Errorf("%s: %w", binary, context.Cause(ctx))
	case waitErr != nil:
		return "", fmt.Errorf("%w: %s: %v without a %s line%s", ErrWorkBinary, binary, waitErr, resultPrefix, stderrTail(&stderr))
	default:
		return "", fmt.Errorf("%w: %s exited without a %s line%s", ErrWorkBinary, binary, resultPrefix, stderrTail(&stderr))
	}
	if !utf8.ValidString(suffix) || len(suffix)+1 > protocol.MaxLineLength {
		return "", fmt.Errorf("%w: %s gave a suffix that is not a valid protocol line", ErrWorkBinary, binary)
	}
	return suffix, nil
}

func stderrTail(b *bytes.Buffer) string {
	s := strings.TrimSpace(b.String())
	if s == "" {
		return ""
	}
	return "; its stderr: " + strings.Join(strings.Fields(s), " ")
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
