package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// The autopilot (raftstore's, on hashicorp/raft-autopilot) runs on the active node only: it
// starts when the node becomes active and stops when it stops being active. Its configuration
// is replicated through Raft, so a new active node runs it as the last one did.

// AutopilotConfig is the cluster's autopilot configuration (OpenBao's field names in JSON).
type AutopilotConfig = state.AutopilotConfig

// AutopilotState is the autopilot's view of the servers.
type AutopilotState = raftstore.AutopilotState

// AutopilotConfiguration is the configuration in force, from this node's replicated state.
func (n *Node) AutopilotConfiguration() AutopilotConfig {
	var c AutopilotConfig
	n.state.View(func(d *state.Data) { c = d.AutopilotConfig() })
	return c
}

// SetAutopilotConfiguration replaces the cluster's autopilot configuration; a value OpenBao
// would refuse is ErrInvalidRequest, saying what to change, and changes nothing.
func (n *Node) SetAutopilotConfiguration(ctx context.Context, c AutopilotConfig) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if _, err := n.Propose(ctx, state.TypeAutopilotConfig, "", command.SourceAPI, c); err != nil {
		if errors.Is(err, state.ErrInvalid) {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		return err
	}
	n.log.Info("autopilot configuration set", "config", raftConfigOf(c).String())
	return nil
}

// AutopilotState is the running autopilot's view; active node only.
func (n *Node) AutopilotState() (AutopilotState, error) {
	st, err := n.activeStore()
	if err != nil {
		return AutopilotState{}, err
	}
	s, ok := st.AutopilotState()
	if !ok {
		return AutopilotState{}, n.notActive()
	}
	return s, nil
}

// startAutopilot runs the autopilot while this node is active; the returned stop waits for it.
func (n *Node) startAutopilot(st *raftstore.Store) (stop func()) {
	return st.StartAutopilot(
		func() raftstore.AutopilotConfig { return raftConfigOf(n.AutopilotConfiguration()) },
		func(ctx context.Context, id string) error { return n.removePeer(ctx, id, command.SourceInternal) })
}

func raftConfigOf(c AutopilotConfig) raftstore.AutopilotConfig {
	return raftstore.AutopilotConfig{
		CleanupDeadServers: c.CleanupDeadServers, LastContactThreshold: c.LastContactThreshold,
		DeadServerLastContactThreshold: c.DeadServerLastContactThreshold, MaxTrailingLogs: c.MaxTrailingLogs,
		MinQuorum: c.MinQuorum, ServerStabilizationTime: c.ServerStabilizationTime,
	}
}
