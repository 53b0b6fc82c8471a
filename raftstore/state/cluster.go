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
	TypeSealUpdate: on((*txn).sealUpdate),
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

func (t *txn) sealUpdate(p SealUpdate) error {
	if !t.d.Seal.Initialized {
		return fmt.Errorf("%w: the cluster is not initialized", ErrInvalid)
	}
	if len(p.KeyCheck) == 0 {
		return fmt.Errorf("%w: the sealed keyring is empty", ErrInvalid)
	}
	if p.Generation != t.d.Seal.Generation+1 {
		return fmt.Errorf("%w: the seal changed meanwhile (generation %d, update made for %d); retry", ErrConflict, t.d.Seal.Generation, p.Generation-1)
	}
	t.d.Seal.KeyCheck = p.KeyCheck
	t.d.Seal.Generation = p.Generation
	if len(p.RootKey) > 0 {
		t.d.Seal.RootKey = p.RootKey
	}
	if p.Shares > 0 {
		t.d.Seal.Shares, t.d.Seal.Threshold = p.Shares, p.Threshold
	}
	return nil
}
