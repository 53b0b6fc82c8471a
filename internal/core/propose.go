package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"

	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Proposing: every command the node commits goes through Propose; a standby answers with
// the active node it knows.

// Propose commits a command on the active node. An empty id gets a fresh one. A refused
// command (a business failure) returns the state's error; not being active returns a
// *NotActiveError naming the active node.
func (n *Node) Propose(ctx context.Context, typ command.Type, id string, source command.Source, payload any) (*state.Result, error) {
	st := n.Store()
	if st == nil {
		return nil, ErrSealed
	}
	if id == "" {
		id = rand.Text()
	}
	c, err := command.New(typ, id, source, time.Now(), payload)
	if err != nil {
		return nil, err
	}
	resp, err := n.batch.submit(ctx, c)
	if errors.Is(err, raftstore.ErrNotLeader) {
		return nil, n.notActive()
	}
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*state.Result)
	if !ok {
		return nil, fmt.Errorf("core: unexpected apply response %T", resp)
	}
	if r.Duplicate {
		// A redelivered event or a retried proposal, applied once already: counted here,
		// where the state's answer comes back, by the source that sent it again.
		metrics.IncrCounterWithLabels([]string{"baton", "events", "deduplicated"}, 1, []metrics.Label{{Name: "source", Value: string(source)}})
	}
	return r, nil
}

func (n *Node) notActive() error {
	st := n.Store()
	if st == nil {
		return &NotActiveError{}
	}
	id, _ := st.Leader()
	var addr string
	n.state.View(func(d *state.Data) { addr = d.Nodes[id].APIAddr })
	return &NotActiveError{LeaderID: id, LeaderAPIAddr: addr}
}

// LeaderAPIAddr names the active node's API address, "" when unknown.
func (n *Node) LeaderAPIAddr() (id, addr string) {
	var e *NotActiveError
	if errors.As(n.notActive(), &e) {
		return e.LeaderID, e.LeaderAPIAddr
	}
	return "", ""
}
