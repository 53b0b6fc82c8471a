package core

import (
	"errors"
	"fmt"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/raftstore/state"
)

// NATS identities: created at Init, their seeds sealed by the barrier in the replicated state,
// their public keys handed to the embedded server (which keeps them in a file of its own, so
// that it admits them while the node is still sealed after a restart).

// ErrNoNATSIdentities: the cluster has no NATS identities (it was initialised before they
// existed); its embedded server admits only the node's own connection.
var ErrNoNATSIdentities = errors.New("core: the cluster has no NATS identities")

// NATSCredentials is what sys/nats/credentials returns: one identity's nkey seed (a secret,
// shown to a root caller only) with what a client needs beside it.
type NATSCredentials struct {
	Role      string
	PublicKey string
	Seed      string
	Cluster   string
	URL       string
}

// newNATSIdentities creates the cluster's three identities and seals their seeds; the barrier
// must be unsealed.
func (n *Node) newNATSIdentities() (*state.NATSIdentities, error) {
	ids, err := events.NewIdentities()
	if err != nil {
		return nil, err
	}
	seal := func(id events.Identity) (state.NATSIdentity, error) {
		ct, err := n.barrier.Encrypt(id.Seed)
		if err != nil {
			return state.NATSIdentity{}, fmt.Errorf("core: sealing the NATS %s seed: %w", id.Role, err)
		}
		return state.NATSIdentity{Public: id.Public, SealedSeed: ct}, nil
	}
	var out state.NATSIdentities
	if out.Node, err = seal(ids.Node); err != nil {
		return nil, err
	}
	if out.Operator, err = seal(ids.Operator); err != nil {
		return nil, err
	}
	if out.Watcher, err = seal(ids.Watcher); err != nil {
		return nil, err
	}
	return &out, nil
}

func (n *Node) natsIdentities() *state.NATSIdentities {
	var ids *state.NATSIdentities
	n.state.View(func(d *state.Data) { ids = d.Seal.NATS })
	return ids
}

// authorizeNATS hands the cluster's public keys to the embedded server (nothing to do for an
// external one, or before the state holds them). A failure is logged: the server then keeps
// the keys it had, so it is never left open.
func (n *Node) authorizeNATS() {
	ids := n.natsIdentities()
	if n.bus == nil || !n.bus.Embedded() || ids == nil {
		return
	}
	keys := events.AuthorizedKeys{Node: []string{ids.Node.Public}, Operator: []string{ids.Operator.Public}, Watcher: []string{ids.Watcher.Public}}
	if err := n.bus.Authorize(keys); err != nil {
		n.log.Error("authorising the cluster's NATS identities on the embedded server", "error", err)
	}
}

// NATSCredentials opens the seed of one of the cluster's NATS identities (node, operator or
// watcher). The caller checks that the requester may have it.
func (n *Node) NATSCredentials(role string) (NATSCredentials, error) {
	r, err := events.ParseRole(role)
	if err != nil {
		return NATSCredentials{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if n.barrier.Sealed() {
		return NATSCredentials{}, ErrSealed
	}
	ids := n.natsIdentities()
	if ids == nil {
		return NATSCredentials{}, ErrNoNATSIdentities
	}
	id := map[events.Role]state.NATSIdentity{events.RoleNode: ids.Node, events.RoleOperator: ids.Operator, events.RoleWatcher: ids.Watcher}[r]
	seed, err := n.barrier.Decrypt(id.SealedSeed)
	if err != nil {
		return NATSCredentials{}, fmt.Errorf("core: opening the NATS %s seed: %w", r, err)
	}
	return NATSCredentials{Role: string(r), PublicKey: id.Public, Seed: string(seed), Cluster: n.cfg.Cluster, URL: n.NATSURL()}, nil
}
