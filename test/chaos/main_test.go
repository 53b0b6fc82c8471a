package chaos

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// seedFlag chooses the order and timing of the full run's faults; 0 takes BATON_CHAOS_SEED,
// else the clock. The run prints the seed it used so a failure can be replayed with
// -chaos.seed=N.
var seedFlag = flag.Uint64("chaos.seed", 0, "seed of the chaos run's fault order and timing (default: $BATON_CHAOS_SEED, else the clock)")

// chaosSeed resolves the seed of this run.
func chaosSeed() (uint64, error) {
	if *seedFlag != 0 {
		return *seedFlag, nil
	}
	if v := os.Getenv("BATON_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("BATON_CHAOS_SEED=%q is not a whole number: %w", v, err)
		}
		return s, nil
	}
	return uint64(time.Now().UnixNano()), nil
}

// afterTests run once the tests have (the chaos build removes the harness's binaries).
var afterTests []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range afterTests {
		f()
	}
	// The API clients keep idle keep-alive connections, each with two goroutines.
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestChaosSeed(t *testing.T) {
	old := *seedFlag
	t.Cleanup(func() { *seedFlag = old })
	*seedFlag = 0
	t.Setenv("BATON_CHAOS_SEED", "42")
	if s, err := chaosSeed(); err != nil || s != 42 {
		t.Fatalf("seed from the environment = %d, %v; want 42", s, err)
	}
	*seedFlag = 7
	if s, _ := chaosSeed(); s != 7 {
		t.Fatalf("the flag did not win over the environment: %d", s)
	}
	*seedFlag = 0
	t.Setenv("BATON_CHAOS_SEED", "x")
	if _, err := chaosSeed(); err == nil {
		t.Fatal("a malformed BATON_CHAOS_SEED was accepted")
	}
}
