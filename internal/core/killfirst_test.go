package core

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/test/testutil"
)

// recordingRuntime is a fake Runtime that records, for each call that ends plugin processes,
// what the node looked like at that moment: whether it still claimed to be active, whether
// Raft was still open, and whether the activation (events, runtime) was still running.
type recordingRuntime struct {
	n *Node

	mu     sync.Mutex
	runCtx context.Context // the context Activate ran under
	calls  []string
}

func (r *recordingRuntime) Activate(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runCtx = ctx
	return nil
}

func (r *recordingRuntime) KillAll() { r.record("kill") }

func (r *recordingRuntime) Effects(context.Context, []fsm.Transition) {}

func (r *recordingRuntime) HandleEvent(context.Context, events.Event) (uint64, error) { return 0, nil }

func (r *recordingRuntime) Shutdown(context.Context) error {
	r.record("shutdown")
	return nil
}

func (r *recordingRuntime) record(what string) {
	active, raftOpen := r.n.IsActive(), r.n.Store() != nil
	r.mu.Lock()
	defer r.mu.Unlock()
	run := "none"
	if r.runCtx != nil {
		run = "live"
		if r.runCtx.Err() != nil {
			run = "cancelled"
		}
	}
	r.calls = append(r.calls, fmt.Sprintf("%s active=%v raft=%v run=%s", what, active, raftOpen, run))
}

func (r *recordingRuntime) activated() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runCtx != nil
}

func (r *recordingRuntime) recorded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// TestKillFirst checks the order every way out of the active role keeps (invariant 1): the node
// stops claiming to be active and its plugins are ended before anything else happens (while
// Raft is still open and before the activation is cancelled); where the activation is torn
// down, plugins are killed once more after it, for anything started in between. A single-node
// cluster cannot hand leadership over, so a step-down there kills and stays active.
func TestKillFirst(t *testing.T) {
	const (
		killFirst     = "kill active=false raft=true run=live"
		shutdownFirst = "shutdown active=false raft=true run=live"
		killAfterRun  = "kill active=false raft=true run=cancelled"
		killAfterRaft = "kill active=false raft=false run=cancelled"
	)
	tests := []struct {
		name        string
		leave       func(ctx context.Context, t *testing.T, n *Node)
		first, last string
		stillActive bool
	}{
		{"leadership lost", func(_ context.Context, _ *testing.T, n *Node) { n.becomeStandby("test") }, killFirst, killAfterRun, false},
		{"step-down", func(ctx context.Context, t *testing.T, n *Node) {
			if _, err := n.StepDown(ctx, "", command.SourceAPI); err == nil {
				t.Error("a single-node cluster stepped down")
			}
		}, killFirst, killFirst, true},
		{"seal", func(ctx context.Context, t *testing.T, n *Node) {
			if err := n.Seal(ctx); err != nil {
				t.Error(err)
			}
		}, killFirst, killAfterRaft, false},
		{"shutdown", func(ctx context.Context, t *testing.T, n *Node) {
			if err := n.Shutdown(ctx); err != nil {
				t.Error(err)
			}
		}, shutdownFirst, killAfterRaft, false},
		{"halt", func(_ context.Context, _ *testing.T, n *Node) { n.Halt() }, killFirst, killAfterRaft, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			n := newNode(t, t.TempDir(), freeAddr(t))
			rt := &recordingRuntime{n: n}
			n.SetRuntime(rt)
			if _, err := n.Init(ctx, ""); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 30*time.Second, "runtime activated", rt.activated)
			if got := rt.recorded(); len(got) != 0 {
				t.Fatalf("plugins ended while becoming active: %q", got)
			}
			tt.leave(ctx, t, n)
			got := rt.recorded()
			if len(got) == 0 || got[0] != tt.first || got[len(got)-1] != tt.last {
				t.Fatalf("calls = %q, want the first %q and the last %q", got, tt.first, tt.last)
			}
			for _, c := range got {
				if strings.Contains(c, "active=true") {
					t.Fatalf("plugins ended while the node still claimed to be active: %q", got)
				}
			}
			if n.IsActive() != tt.stillActive {
				t.Fatalf("IsActive = %v after %s, want %v", n.IsActive(), tt.name, tt.stillActive)
			}
		})
	}
}
