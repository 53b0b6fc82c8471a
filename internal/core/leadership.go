package core

import (
	"context"
	"fmt"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Leadership: following Raft's leader changes, becoming the active node (barrier, activate,
// events) and back to standby, and checking before a plugin request that this node still leads.

// activeRun is what runs while this node is active.
type activeRun struct {
	cancel context.CancelFunc
	since  time.Time // when the node became active; guarded by Node.mu
	intake *events.Intake
	inject func()
	done   chan struct{}

	// stopAutopilot stops the autopilot started with the run; guarded by Node.mu.
	stopAutopilot func()
}

func (n *Node) waitActive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !n.IsActive() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("core: node did not become active: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// IsActive reports whether this node is the active node: unsealed, Raft leader, runtime up.
func (n *Node) IsActive() bool {
	return n.activeFlag.Load() && !n.barrier.Sealed()
}

// ActiveSince is when this node last became active (sys/leader's active_time, `bao status`'s
// "Active Since"); the zero time when it is not active.
func (n *Node) ActiveSince() time.Time {
	if !n.IsActive() {
		return time.Time{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.active == nil {
		return time.Time{}
	}
	return n.active.since
}

// leadershipLoop follows Raft leadership, and re-activates after a snapshot restore; it runs
// until the store closes.
func (n *Node) leadershipLoop(st *raftstore.Store) {
	defer n.wg.Done()
	changes := st.LeadershipChanges()
	for {
		select {
		case leader, ok := <-changes:
			if !ok {
				n.becomeStandby("raft closed")
				return
			}
			if leader {
				n.becomeActive(st)
			} else {
				n.becomeStandby("leadership lost")
			}
		case done := <-n.reactivate:
			// A snapshot was restored: the active node follows the restored state the way a
			// new leader follows the one it inherits, through the same two steps.
			n.mu.Lock()
			wasActive := n.active != nil
			n.mu.Unlock()
			if wasActive && st.IsLeader() {
				n.becomeStandby("snapshot restored")
				n.becomeActive(st)
			}
			close(done)
		}
	}
}

func (n *Node) becomeActive(st *raftstore.Store) {
	n.mu.Lock()
	if n.active != nil || n.closed {
		n.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &activeRun{cancel: cancel, done: make(chan struct{})}
	n.active = run
	n.mu.Unlock()

	start := time.Now()
	bctx, bcancel := context.WithTimeout(ctx, 30*time.Second)
	err := st.Barrier(bctx)
	bcancel()
	if err != nil {
		n.log.Warn("barrier after gaining leadership failed; not activating", "error", err)
		close(run.done)
		return
	}
	n.mu.Lock()
	run.since = time.Now()
	n.mu.Unlock()
	n.activeFlag.Store(true)
	n.verifyMu.Lock()
	n.verified = time.Now()
	n.verifyMu.Unlock()
	n.log.Info("active node", "barrier", time.Since(start))
	stopAP := n.startAutopilot(st)
	n.mu.Lock()
	run.stopAutopilot = stopAP
	n.mu.Unlock()

	// Everything below runs off the Raft goroutines; plugin starts run in parallel inside the
	// runtime and never hold leadership up.
	go func() {
		defer close(run.done)
		n.registerSelf(ctx)
		if n.runtime != nil {
			if err := n.runtime.Activate(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("activating the plugin runtime", "error", err)
			}
		}
		if n.bus != nil && ctx.Err() == nil {
			n.authorizeNATS()
			n.startEvents(ctx, run)
		}
	}()
}

func (n *Node) registerSelf(ctx context.Context) {
	var known state.Node
	n.state.View(func(d *state.Data) { known = d.Nodes[n.cfg.NodeID] })
	self := state.Node{ID: n.cfg.NodeID, APIAddr: n.cfg.APIAddr, RaftAddr: n.cfg.RaftAdvertise}
	if known == self {
		return
	}
	if _, err := n.Propose(ctx, state.TypeNodeJoin, "", command.SourceInternal, state.NodeJoin{Node: self}); err != nil && ctx.Err() == nil {
		n.log.Warn("recording this node's addresses", "error", err)
	}
}

func (n *Node) startEvents(ctx context.Context, run *activeRun) {
	// The intake keeps the stream and the durable consumer in place while this node is active
	// (checked every 5 s, and at once when the consumer ends). Starting it needs NATS: while
	// NATS is unreachable it is tried again every DefaultCheckEvery until this node stops
	// being active.
	var (
		c   *events.Intake
		lim *events.Limiter // nil: no limit
	)
	if n.cfg.EventLimit.Rate > 0 {
		var err error
		if lim, err = events.NewLimiter(n.cfg.EventLimit); err != nil {
			// Config.Validate refused it already; this is only reached by a bypassed check.
			n.log.Error("event intake limit; taking events without one", "error", err)
		}
	}
	for {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var err error
		c, err = events.StartIntake(sctx, n.bus.JetStream(), n, events.IntakeConfig{
			Cluster: n.cfg.Cluster, Logger: n.log.Named("consumer"),
			Consumer: []events.ConsumerOption{events.WithConcurrency(n.cfg.ConsumerConcurrency), events.WithLimiter(lim), events.WithAuthorizer(n.eventAuthz)},
		})
		cancel()
		if err == nil {
			break
		}
		n.log.Error("NATS event intake; trying again", "error", err, "in", events.DefaultCheckEvery)
		select {
		case <-ctx.Done():
			return
		case <-time.After(events.DefaultCheckEvery):
		}
	}
	stop, err := events.ServeInject(n.bus.Conn(), n.cfg.Cluster, n, n.log.Named("inject"), events.WithInjectLimiter(lim), events.WithInjectAuthorizer(n.eventAuthz))
	if err != nil {
		n.log.Error("NATS inject subject", "error", err)
	}
	n.mu.Lock()
	if n.active == run {
		run.intake = c
		run.inject = stop
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	// Leadership was lost while starting: undo.
	c.Stop()
	if stop != nil {
		stop()
	}
}

// becomeStandby kills plugins first, then stops taking events.
func (n *Node) becomeStandby(why string) {
	n.leaveActive(context.Background(), killPlugins)
	n.mu.Lock()
	run := n.active
	n.active = nil
	n.mu.Unlock()
	if run == nil {
		return
	}
	n.log.Info("no longer active", "why", why)
	run.cancel()
	n.mu.Lock()
	stopAP := run.stopAutopilot
	n.mu.Unlock()
	if stopAP != nil {
		stopAP()
	}
	select {
	case <-run.done:
	case <-time.After(30 * time.Second):
		n.log.Warn("activation did not stop within 30s")
	}
	n.mu.Lock()
	c, stop := run.intake, run.inject
	n.mu.Unlock()
	if stop != nil {
		stop()
	}
	if c != nil {
		c.Stop()
	}
	// Anything started between the first kill and the cancellation dies here.
	n.killAll()
}

// VerifyActive checks, before a plugin request, that this node still leads. A frozen and
// resumed leader must not serve a single plugin request before it has checked: after a gap
// longer than the lease since the last check, it asks a quorum (one round trip).
func (n *Node) VerifyActive(ctx context.Context) error {
	if !n.IsActive() {
		return n.notActive()
	}
	st := n.Store()
	if st == nil {
		return ErrSealed
	}
	n.verifyMu.Lock()
	gap := time.Since(n.verified)
	n.verifyMu.Unlock()
	if gap < n.cfg.Raft.LeaderLeaseTimeout/2 {
		return nil
	}
	// After a gap long enough to have been frozen through an election, twice: a heartbeat
	// answered before a freeze, read only after it, can make one verification pass; the
	// second needs a round trip that starts after the first ended.
	rounds := 1
	if gap > n.cfg.Raft.ElectionTimeout {
		rounds = 2
	}
	for range rounds {
		if err := st.VerifyLeader(ctx); err != nil {
			return n.notActive()
		}
	}
	if !n.IsActive() {
		return n.notActive()
	}
	n.verifyMu.Lock()
	n.verified = time.Now()
	n.verifyMu.Unlock()
	return nil
}

// observe receives every applied transition; the active node publishes them and carries out
// their effects. It runs on Raft's apply goroutine, so it only hands work off.
func (n *Node) observe(ts []fsm.Transition) {
	n.watchers.Publish(ts)
	// Every node counts what it applied (a post-apply hook: Apply itself stays I/O-free).
	for _, t := range ts {
		metrics.IncrCounterWithLabels([]string{"baton", "lifecycle", "transition"}, 1, []metrics.Label{
			{Name: "kind", Value: string(t.Kind)}, {Name: "event", Value: string(t.Event)}, {Name: "source", Value: t.Source},
		})
	}
	if !n.IsActive() {
		return
	}
	if n.bus != nil {
		for _, t := range ts {
			n.bus.Publisher().PublishTransition(events.Transition{
				Kind: events.TransitionKind(t.Kind), ID: t.ID, Event: string(t.Event), From: string(t.From), To: string(t.To),
				EventID: t.EventID, Source: t.Source, Index: t.Index, Time: t.Time, Reason: t.Reason,
			})
		}
	}
	if n.runtime != nil {
		n.mu.Lock()
		run := n.active
		n.mu.Unlock()
		if run == nil {
			return
		}
		go n.runtime.Effects(context.WithoutCancel(context.Background()), ts)
	}
}
