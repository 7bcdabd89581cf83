package eventloop

// Test-only views of a Server.

// Conns is the number of open connections.
func (s *Server) Conns() int64 { return s.conns.Load() }

// Draining reports whether Run is shutting down (new connections refused).
func (s *Server) Draining() bool { return s.draining.Load() }
