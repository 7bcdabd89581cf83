//go:build race

package tlsbridge

// raceEnabled: the race detector changes allocation behaviour (sync.Pool
// drops items on purpose), so allocation counts are only checked without it.
const raceEnabled = true
