// Package webclient is the browser client a ws:// or wss:// listener
// serves: one self-contained HTML page (no external assets) that plays a
// tlslp session over a WebSocket, solving WORK in a Web Worker.
//
// It owns the page only; transport/ serves it, and nothing here runs in
// the daemon's event loops beyond handing out bytes.
package webclient
