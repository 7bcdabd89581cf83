package webclient

import (
	"bytes"
	_ "embed"
	"html"
)

//go:embed page.html
var page []byte

// pathMarker is replaced by the WebSocket endpoint's path.
var pathMarker = []byte("{{WS_PATH}}")

// Page is the browser client for a WebSocket endpoint at path.
func Page(path string) []byte {
	return bytes.ReplaceAll(page, pathMarker, []byte(html.EscapeString(path)))
}
