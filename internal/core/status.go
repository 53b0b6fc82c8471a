package core

import (
	"context"
	"crypto/rand"
	"slices"
	"sort"

	metrics "github.com/hashicorp/go-metrics/compat"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// RaftStatus is the Raft address of the leader this node knows ("" when none or sealed) and
// the index this node has applied (0 while sealed).
func (n *Node) RaftStatus() (leaderRaftAddr string, applied uint64) {
	st := n.Store()
	if st == nil {
		return "", 0
	}
	_, leaderRaftAddr = st.Leader()
	return leaderRaftAddr, st.AppliedIndex()
}

// RequestStepDown steps the active node down for a client (sys/step-down), under a fresh
// event id.
func (n *Node) RequestStepDown(ctx context.Context) error {
	_, err := n.StepDown(ctx, rand.Text(), command.SourceAPI)
	return err
}

// Machine is one lifecycle state machine as sys/lifecycle lists it.
type Machine struct {
	Kind    fsm.Kind         `json:"kind"`
	ID      string           `json:"id"`
	State   fsm.State        `json:"state"`
	History []fsm.Transition `json:"history"`
}

// Lifecycle is this node's replicated view of the lifecycle: every machine (sorted by kind,
// then id), the WAL entries, and, when asked for, the applied event log.
type Lifecycle struct {
	Machines []Machine
	WAL      []map[string]any
	// Applied is nil unless asked for.
	Applied []state.AppliedEvent
}

// Lifecycle reads the lifecycle from this node's own replicated state.
func (n *Node) Lifecycle(withApplied bool) Lifecycle {
	var l Lifecycle
	n.state.View(func(d *state.Data) {
		for _, m := range d.Machines {
			l.Machines = append(l.Machines, Machine{Kind: m.Kind(), ID: m.ID(), State: m.State(), History: m.History()})
		}
		for _, e := range d.WAL.List() {
			l.WAL = append(l.WAL, map[string]any{"id": e.ID, "kind": e.Kind, "target": e.Target, "created": e.Created,
				"index": e.Index, "attempts": e.Attempts, "last_error": e.LastError})
		}
		if withApplied {
			l.Applied = slices.Clone(d.Log)
		}
	})
	sort.Slice(l.Machines, func(i, j int) bool {
		if l.Machines[i].Kind != l.Machines[j].Kind {
			return l.Machines[i].Kind < l.Machines[j].Kind
		}
		return l.Machines[i].ID < l.Machines[j].ID
	})
	return l
}

// EmitMetrics sets OpenBao's core.unsealed (1 unsealed, 0 sealed) and core.active (1 on the
// active node) gauges; the telemetry loop calls it every interval on every node.
func (n *Node) EmitMetrics() {
	unsealed, active := float32(0), float32(0)
	if !n.Sealed() {
		unsealed = 1
	}
	if n.IsActive() {
		active = 1
	}
	metrics.SetGauge([]string{"core", "unsealed"}, unsealed)
	metrics.SetGauge([]string{"core", "active"}, active)
}
