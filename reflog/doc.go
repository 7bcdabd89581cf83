// Package reflog writes the reference tlslp-server's and tlslp-client's
// log lines — "<time> <LEVEL> tlslp.server: <message>" — to the file the
// reference uses ($XDG_STATE_HOME/tlslp/logs/server.log or client.log) and
// WARNING and above to stderr, so scripts that read those logs keep
// working after a switch to tlslpd.
//
// It owns that format, the file's place, Python-style quoting (repr) and
// the wording of each line. It must not block its callers: every line goes
// to io.Writers the caller makes non-blocking (logsink batching), and it
// never touches sockets or session state beyond what it is handed.
package reflog
