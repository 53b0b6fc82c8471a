package pluginbin

import (
	"fmt"
	"os"
	"testing"
)

// Runner builds a Set, runs a test binary's tests and removes the Set. It satisfies
// goleak.TestingM.
type Runner struct {
	m     *testing.M
	set   **Set
	names []string
}

// Main wraps m for a TestMain that builds the named binaries once for all its tests and keeps
// them in *set; an error from Build fails the run before any test:
//
//	var bins *pluginbin.Set
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pluginbin.Main(m, &bins, pluginbin.TestPlugin)) }
func Main(m *testing.M, set **Set, names ...string) Runner {
	return Runner{m: m, set: set, names: names}
}

// Run builds the binaries, runs the tests and removes the binaries.
func (r Runner) Run() int {
	s, err := Build(r.names...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "build plugin binaries:", err)
		return 1
	}
	*r.set = s
	defer s.Remove()
	return r.m.Run()
}
