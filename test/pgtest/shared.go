package pgtest

import (
	"fmt"
	"os"
	"testing"
)

// Shared is one server for a whole test binary, started by Main before the first test and
// stopped after the last, for packages whose tests would each pay seconds for their own.
type Shared struct {
	srv *Server
	err error
}

// Server returns the shared server, or ends the test as SkipOrFail does when it could not
// start.
func (s *Shared) Server(tb testing.TB) *Server {
	tb.Helper()
	SkipOrFail(tb, s.err)
	return s.srv
}

// Runner runs a test binary's tests around a Shared server. It satisfies goleak.TestingM.
type Runner struct {
	m      *testing.M
	shared *Shared
}

// Main wraps m for a TestMain that shares one server among its tests; a start-up error is
// reported by each test through Shared.Server, a stop error fails the run:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m, &pg)) }
func Main(m *testing.M, shared *Shared) Runner { return Runner{m: m, shared: shared} }

// Run starts the server, runs the tests and stops the server.
func (r Runner) Run() int {
	r.shared.srv, r.shared.err = StartServer(Options{})
	code := r.m.Run()
	if r.shared.srv != nil {
		if err := r.shared.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop PostgreSQL:", err)
			code = 1
		}
	}
	return code
}
