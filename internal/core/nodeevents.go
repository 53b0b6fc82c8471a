package core

import (
	"context"
	"fmt"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Node-level events: the injected events the node handles itself (step-down, seal,
// shutdown); the rest go to the runtime.

// HandleEvent applies an injected event; it satisfies events.Handler. Node-level events are
// the node's; plugin and connection events go to the runtime.
func (n *Node) HandleEvent(ctx context.Context, ev events.Event) (uint64, error) {
	if !n.IsActive() {
		return 0, n.notActive()
	}
	if ev.Target.Type == events.TargetNode && ev.Target.ID != "" && ev.Target.ID != n.cfg.NodeID {
		if _, known := n.nodeByID(ev.Target.ID); !known {
			return 0, fmt.Errorf("%w: no node %q in this cluster", events.ErrRejected, ev.Target.ID)
		}
	}
	source := command.SourceNATS
	switch ev.Kind {
	case events.KindStepDown:
		if ev.Target.ID != "" && ev.Target.ID != n.cfg.NodeID {
			// Only the active node steps down: stepping down a standby is a no-op, recorded.
			r, err := n.Propose(ctx, state.TypeNoop, ev.ID, source, nil)
			return indexOf(r), err
		}
		return n.StepDown(ctx, ev.ID, source)
	case events.KindSeal:
		r, err := n.Propose(ctx, state.TypeLifecycleAll, ev.ID, source, state.LifecycleBroadcast{
			Kind: fsm.KindPlugin, Event: fsm.EventSeal, Reason: "seal event",
		})
		if err != nil || r.Duplicate {
			return indexOf(r), err
		}
		go func() {
			if err := n.sealWith(context.Background(), "", command.SourceInternal); err != nil {
				n.log.Error("seal", "error", err)
			}
		}()
		return r.Index, nil
	case events.KindShutdown:
		if n.cfg.Shutdown == nil {
			return 0, fmt.Errorf("%w: this node cannot be shut down by event", events.ErrRejected)
		}
		r, err := n.Propose(ctx, state.TypeLifecycleAll, ev.ID, source, state.LifecycleBroadcast{
			Kind: fsm.KindPlugin, Event: fsm.EventShutdown, Reason: "shutdown event",
		})
		if err != nil || r.Duplicate {
			return indexOf(r), err
		}
		go n.cfg.Shutdown()
		return r.Index, nil
	}
	if n.runtime == nil {
		return 0, fmt.Errorf("%w: no plugin runtime on this node", events.ErrRejected)
	}
	return n.runtime.HandleEvent(ctx, ev)
}

func indexOf(r *state.Result) uint64 {
	if r == nil {
		return 0
	}
	return r.Index
}
