package dbplugin

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary serve a plugin instead of running tests (the helper
// process pattern): process_test.go execs os.Args[0] with it set.
const helperEnv = "BATON_DBPLUGIN_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
	case "serve":
		Serve(&memDB{})
		os.Exit(0)
	case "multiplex":
		f := &memFactory{versioned: true}
		ServeMultiplex(f.New)
		os.Exit(0)
	default:
		os.Stderr.WriteString("unknown " + helperEnv + "\n")
		os.Exit(2)
	}
	// Reattaching to an in-process plugin (go-plugin's test mode, testmode_test.go) leaves
	// go-plugin waiting for this very process to exit: that one goroutine is expected.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/go-plugin/internal/cmdrunner.pidWait"))
}
