package core

import (
	"context"
	"fmt"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Teardown: every way out of the active role or out of service (step-down, seal, shutdown,
// halt, and leadership loss in leadership.go) begins with leaveActive, the kill-first step.

// pluginStop says how leaveActive ends the plugin processes.
type pluginStop int

const (
	// killPlugins kills them at once (Runtime.KillAll): leadership lost, step-down, seal, halt.
	killPlugins pluginStop = iota
	// stopPlugins stops them gracefully (Runtime.Shutdown): shutdown.
	stopPlugins
)

// leaveActive is the kill-first step every way out of the active role begins with (leadership
// lost, step-down, seal, shutdown, halt): the node stops claiming to be active, so it serves no
// further plugin request, and its plugin processes end, before anything else happens (no
// leadership transfer, no Raft close, no cancelled activation). Invariant 1 depends on it: a
// standby may win the next election at once and start its own plugins.
func (n *Node) leaveActive(ctx context.Context, how pluginStop) {
	n.activeFlag.Store(false)
	if how == stopPlugins && n.runtime != nil {
		if err := n.runtime.Shutdown(ctx); err != nil {
			n.log.Warn("stopping plugins", "error", err)
		}
		return
	}
	n.killAll()
}

// handOver is how an active node leaves on purpose (step-down, seal, shutdown): leaveActive,
// then leadership is transferred so a standby takes over without waiting for an election
// timeout. It returns the transfer's error (a single-node cluster has no one to hand over to).
func (n *Node) handOver(ctx context.Context, how pluginStop) error {
	n.leaveActive(ctx, how)
	st := n.Store()
	if st == nil {
		return ErrSealed
	}
	return st.TransferLeadership(ctx)
}

// killAll kills every plugin process, if the node has a runtime.
func (n *Node) killAll() {
	if n.runtime != nil {
		n.runtime.KillAll()
	}
}

// StepDown hands leadership over: the plugin instances record step_down (through Raft, with
// the event's id so a redelivered event is applied once), this node kills its plugins, then
// transfers leadership. It returns once the transfer is under way.
func (n *Node) StepDown(ctx context.Context, eventID string, source command.Source) (uint64, error) {
	defer metrics.MeasureSince([]string{"core", "step_down"}, time.Now())
	if !n.IsActive() {
		return 0, n.notActive()
	}
	r, err := n.Propose(ctx, state.TypeLifecycleAll, eventID, source, state.LifecycleBroadcast{
		Kind: fsm.KindPlugin, Event: fsm.EventStepDown, Reason: "active node stepped down",
	})
	if err != nil {
		return 0, err
	}
	if r.Duplicate {
		return r.Index, nil
	}
	if err := n.handOver(ctx, killPlugins); err != nil {
		// A single-node cluster cannot hand over: it stays active.
		if st := n.Store(); st != nil {
			n.activeFlag.Store(st.IsLeader())
		}
		return r.Index, fmt.Errorf("core: step-down: %w", err)
	}
	return r.Index, nil
}

// Seal seals the node: the active node first records the seal on its plugin instances, kills
// its plugins and hands leadership over; then Raft stops and the key is forgotten.
func (n *Node) Seal(ctx context.Context) error {
	return n.sealWith(ctx, "", command.SourceAPI)
}

func (n *Node) sealWith(ctx context.Context, eventID string, source command.Source) error {
	if n.barrier.Sealed() {
		return nil
	}
	defer metrics.MeasureSince([]string{"core", "seal"}, time.Now())
	if n.IsActive() {
		if _, err := n.Propose(ctx, state.TypeLifecycleAll, eventID, source, state.LifecycleBroadcast{
			Kind: fsm.KindPlugin, Event: fsm.EventSeal, Reason: "active node sealed",
		}); err != nil {
			n.log.Warn("recording the seal on plugin instances", "error", err)
		}
		if err := n.handOver(ctx, killPlugins); err != nil {
			n.log.Info("no leadership transfer on seal", "error", err)
		}
	}
	n.closeRaft()
	n.barrier.Seal()
	n.log.Info("sealed")
	return nil
}

func (n *Node) closeRaft() {
	n.mu.Lock()
	st := n.store
	n.store = nil
	n.stopClusterPort()
	n.mu.Unlock()
	if st != nil {
		if err := st.Close(); err != nil {
			n.log.Warn("closing raft", "error", err)
		}
	}
	n.wg.Wait()
}

// Shutdown stops the node gracefully: plugins stopped, leadership handed over, Raft closed,
// NATS closed. It is idempotent.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	if n.IsActive() {
		if err := n.handOver(ctx, stopPlugins); err != nil {
			n.log.Info("no leadership transfer on shutdown", "error", err)
		}
	}
	n.closeRaft()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.killAll()
	n.stopBatcher()
	n.stopNATS()
	return nil
}

func (n *Node) stopBatcher() {
	select {
	case <-n.stopBatch:
	default:
		close(n.stopBatch)
	}
	n.batchWG.Wait()
}

// Halt stops the node the way a crash looks to its peers: plugins killed, Raft closed without
// handing leadership over, NATS closed. Tests use it to kill an active node in-process.
func (n *Node) Halt() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	n.leaveActive(context.Background(), killPlugins)
	n.mu.Lock()
	st := n.store
	n.store = nil
	n.stopClusterPort()
	n.mu.Unlock()
	if st != nil {
		_ = st.Close()
	}
	n.wg.Wait()
	n.stopBatcher()
	n.stopNATS()
}

// stopClusterPort stops what lives with the store beside Raft: the forwarding server (its
// open connections too) and the certificate renewal. Called with mu held.
func (n *Node) stopClusterPort() {
	n.raftPtr.Store(nil)
	if n.fwdSrv != nil {
		_ = n.fwdSrv.Close()
		n.fwdSrv = nil
	}
	if n.renewStop != nil {
		close(n.renewStop)
		n.renewStop = nil
	}
}
