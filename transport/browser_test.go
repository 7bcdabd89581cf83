package transport_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tlslpd/eventloop"
	"tlslpd/protocol"
	"tlslpd/statemachine"
	"tlslpd/transport"
	"tlslpd/wsframe"
)

// chromium finds Debian's chromium. CI installs it (.ci/run), so there a
// missing browser fails the test instead of skipping it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run installs it (apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium); CI runs this test")
	return ""
}

// browser is headless Chromium driven over the DevTools protocol, which
// is JSON over a WebSocket: the test's own WebSocket client speaks it.
type browser struct {
	t  *testing.T
	ws *wsConn
	id int
}

func startBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--ignore-certificate-errors", "--user-data-dir="+t.TempDir(), "--window-size=1100,900", "--remote-debugging-port=0",
		"--remote-debugging-address=127.0.0.1", "about:blank")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
				found <- u
			}
		}
	}()
	var browserURL string
	select {
	case browserURL = <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not open its DevTools port")
	}
	u, err := url.Parse(browserURL)
	require.NoError(t, err)
	// The page target that about:blank opened.
	var targets []struct{ Type, WebSocketDebuggerURL string }
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + u.Host + "/json/list")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		targets = nil
		return json.NewDecoder(resp.Body).Decode(&targets) == nil && len(targets) > 0
	}, 30*time.Second, 100*time.Millisecond)
	var pageURL string
	for _, tg := range targets {
		if tg.Type == "page" {
			pageURL = tg.WebSocketDebuggerURL
		}
	}
	require.NotEmpty(t, pageURL, "no page target")
	pu, err := url.Parse(pageURL)
	require.NoError(t, err)
	raw, err := net.Dial("tcp", pu.Host)
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	ws := dialWS(t, raw, pu.Path)
	ws.dec.MaxMessage = 32 << 20 // screenshots
	return &browser{t: t, ws: ws}
}

// call sends one DevTools command and returns its result.
func (b *browser) call(method string, params map[string]any) json.RawMessage {
	b.t.Helper()
	b.id++
	msg, err := json.Marshal(map[string]any{"id": b.id, "method": method, "params": params})
	require.NoError(b.t, err)
	require.NoError(b.t, b.ws.WriteRaw(masked(true, wsframe.OpText, msg)))
	for {
		f, err := b.ws.ReadFrame()
		require.NoError(b.t, err)
		var reply struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
		}
		if json.Unmarshal([]byte(f.payload), &reply) != nil || reply.ID != b.id {
			continue // an event, or not ours
		}
		require.Nil(b.t, reply.Error, "%s", method)
		return reply.Result
	}
}

// eval evaluates a JavaScript expression to a string.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	var r struct{ Result struct{ Value any } }
	require.NoError(b.t, json.Unmarshal(b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}), &r))
	return fmt.Sprint(r.Result.Value)
}

// screenshot saves a PNG of the page under $TLSLPD_SCREENSHOTS (or the
// test's temporary directory) and returns its path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	var r struct{ Data string }
	require.NoError(b.t, json.Unmarshal(b.call("Page.captureScreenshot", map[string]any{"format": "png"}), &r))
	png, err := base64.StdEncoding.DecodeString(r.Data)
	require.NoError(b.t, err)
	dir := os.Getenv("TLSLPD_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	}
	path := filepath.Join(dir, name)
	require.NoError(b.t, os.WriteFile(path, png, 0o644))
	require.Greater(b.t, len(png), 1000, "a real picture")
	return path
}

// TestBrowserPlaysSession drives the embedded page in headless Chromium
// to a completed session over ws and over wss (tutorial mode: the one
// session has no injected FAIL) and checks both sides: the page's account
// and the server's record.
func TestBrowserPlaysSession(t *testing.T) {
	bin := chromium(t)
	for _, tc := range []struct{ name, scheme string }{{transport.WS, "http"}, {transport.WSS, "https"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "--tutorial", "--reference-log=false", "--n_bits", "10", "--insecure")
			b := startBrowser(t, bin)
			page := tc.scheme + "://127.0.0.1:" + strconv.Itoa(s.ports[tc.name]) + "/?autostart"
			b.call("Page.navigate", map[string]any{"url": page})
			outcome := ""
			require.Eventually(t, func() bool {
				outcome = b.eval("document.body ? (document.body.dataset.outcome || '') : ''")
				return outcome == "ok" || outcome == "fail"
			}, 60*time.Second, 200*time.Millisecond, "the page never finished its session")
			t.Logf("screenshot: %s", b.screenshot("browser-client-"+tc.name+".png"))
			text := b.eval("document.body.innerText")
			assert.Equal(t, "ok", outcome, text)
			assert.Contains(t, text, "Session completed: DONE answered with OK.")
			assert.Contains(t, text, "WORK "+protocol.DefaultToken+" 10")
			assert.Contains(t, text, "solved in ")
			for _, cmd := range protocol.BodyCommands {
				assert.Contains(t, text, cmd+" "+testRandom, "the page shows every body request")
			}

			var rec *eventloop.Record
			require.Eventually(t, func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				for _, r := range s.records {
					if r.Transport == tc.name && r.Outcome == "completed" {
						rec = r
						return true
					}
				}
				return false
			}, ioBound, 10*time.Millisecond, "the server recorded no completed %s session", tc.name)
			require.Len(t, rec.Replies, protocol.NumBodyCommands)
			assert.Equal(t, statemachine.Reply{Command: "FULL_NAME", Value: "Ada Lovelace"}, rec.Replies[0])
			if tc.name == transport.WSS {
				assert.NotEmpty(t, rec.TLSVersion, "wss went through the TLS bridge")
			}
		})
	}
}

// TestMonitorPageInBrowser opens the live monitor in headless Chromium
// while sessions run on several transports, and checks it updates and
// lists them.
func TestMonitorPageInBrowser(t *testing.T) {
	bin := chromium(t)
	s := startServer(t)
	b := startBrowser(t, bin)
	b.call("Page.navigate", map[string]any{"url": s.metrics + "/monitor"})
	for i, name := range []string{transport.TCP, transport.WS, transport.TLS, transport.WSS, transport.TCP, transport.WS} {
		c := s.dial(t, name)
		if i%2 == 0 {
			_ = play(t, c)
		} else {
			upToWork(t, c) // stays in WORK: the monitor shows it active
		}
	}
	require.Eventually(t, func() bool {
		n, _ := strconv.Atoi(b.eval("document.body.dataset.updates || '0'"))
		rows, _ := strconv.Atoi(b.eval("String(document.querySelectorAll('#recent tr').length)"))
		return n >= 3 && rows >= 3
	}, 60*time.Second, 200*time.Millisecond, "the monitor never showed the sessions")
	t.Logf("screenshot: %s", b.screenshot("monitor.png"))
	text := b.eval("document.body.innerText")
	assert.Contains(t, text, "live ·")
	for _, want := range []string{"tcp", "ws", "tls", "wss", "work"} {
		assert.Contains(t, text, want)
	}
}
