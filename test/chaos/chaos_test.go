//go:build chaos

package chaos

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/baton-hq/baton/internal/faults"
)

// The chaos runs start real clusters, so they sit behind the chaos build tag:
//
//	go test -tags chaos -run TestChaosShort ./test/chaos/                     (CI, a few minutes)
//	go test -tags chaos -run TestChaosFull -timeout 60m ./test/chaos/ [-chaos.seed=N]
//	go test -tags chaos -run TestFailoverFigures -v ./test/chaos/             (failover table)
//
// Run them without -race: the suite's subject is the node processes, not the test binary,
// and the race detector's slowdown would only blur the timing bounds. The seed (printed at
// the start, from -chaos.seed, $BATON_CHAOS_SEED or the clock) chooses the order of the
// scenarios and the timing of every fault, so a failure can be replayed.

func seedOf(t *testing.T) uint64 {
	t.Helper()
	seed, err := chaosSeed()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chaos seed %d (replay: -chaos.seed=%d)", seed, seed)
	return seed
}

// TestChaosShort is CI's run: every kind of fault once, under load, in an order the seed
// chooses (two leader SIGKILLs, five plugin SIGKILLs, one rotate-root crash point), with
// every invariant checked after each scenario, and one interrupted rotation (invariant 8).
func TestChaosShort(t *testing.T) {
	seed := seedOf(t)
	scs := []scenario{
		leaderKill(2), leaderFreeze(), stepDown(), sealActive(), pluginKill(5),
		natsRestart(), mountAndConn(), tampered(), rotateCrash(faults.RotateAfterDBUpdate),
		interruptedRotation(faults.RotateAfterDBUpdate),
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(scs), func(i, j int) { scs[i], scs[j] = scs[j], scs[i] })
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) { runScenario(t, sc, seed) })
	}
}

// fullScenarios are every fault pattern of the full run.
func fullScenarios(rng *rand.Rand) []scenario {
	scs := []scenario{
		leaderKill(3 + rng.IntN(3)),
		leaderFreeze(),
		stepDown(),
		sealActive(),
		pluginKill(10),
		natsRestart(),
		mountAndConn(),
		tampered(),
	}
	for _, p := range []string{faults.RotateAfterWAL, faults.RotateAfterDBUpdate, faults.RotateAfterCommit} {
		scs = append(scs, rotateCrash(p), interruptedRotation(p))
	}
	// A crash during the rollback itself, after the rotation's crash left one to do.
	scs = append(scs, rotateCrash(faults.RotateAfterDBUpdate+","+faults.RollbackAfterDB))
	return scs
}

var roundsFlag = flag.Int("chaos.rounds", 2, "rounds of every scenario TestChaosFull runs, each in its own order")

// TestChaosFull runs every scenario, round after round, each round in an order the seed
// chooses; each scenario of each round gets its own timings from the seed.
func TestChaosFull(t *testing.T) {
	seed := seedOf(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	for round := range max(1, *roundsFlag) {
		scs := fullScenarios(rng)
		rng.Shuffle(len(scs), func(i, j int) { scs[i], scs[j] = scs[j], scs[i] })
		for _, sc := range scs {
			t.Run(fmt.Sprintf("round%d/%s", round+1, sc.name), func(t *testing.T) { runScenario(t, sc, seed+uint64(round)) })
		}
	}
}
