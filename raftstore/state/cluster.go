package state

import (
	"fmt"

	"github.com/baton-hq/baton/raftstore/command"
)

// clusterHandlers change the cluster's own records: its members and its seal. A noop changes
// nothing but is applied and recorded like any command (the cluster benchmarks time it).
var clusterHandlers = map[command.Type]handler{
	TypeNoop:       func(*txn) error { return nil },
	TypeNodeJoin:   on((*txn).nodeJoin),
	TypeNodeRemove: on((*txn).nodeRemove),
	TypeInit:       on((*txn).initSeal),
}

func (t *txn) nodeJoin(p NodeJoin) error {
	if p.Node.ID == "" {
		return fmt.Errorf("%w: node id is empty", ErrInvalid)
	}
	t.d.Nodes[p.Node.ID] = p.Node
	return nil
}

func (t *txn) nodeRemove(p NodeRemove) error {
	delete(t.d.Nodes, p.ID)
	return nil
}

func (t *txn) initSeal(p Init) error {
	if t.d.Seal.Initialized {
		return fmt.Errorf("%w: the cluster is already initialized", ErrExists)
	}
	p.Seal.Initialized = true
	if p.RootToken != nil {
		if err := t.tokenCreate(TokenCreate{Token: *p.RootToken}); err != nil {
			return err
		}
	}
	t.d.Seal = p.Seal
	return nil
}
