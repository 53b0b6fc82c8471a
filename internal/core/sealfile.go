package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/baton-hq/baton/raftstore/state"
)

// The local seal file: the cluster's sealed keyring and share counts kept in the data
// directory, so a restarted node can check an unseal key (and tell how many shares it needs)
// before it starts Raft.

// localSeal is kept in the data directory so that a restarted node can check an unseal key
// before it starts Raft (the replicated keyring is only readable once Raft runs). It holds
// the keyring sealed by the root key, never a key in clear.
type localSeal struct {
	KeyCheck []byte `json:"key_check"`
	// ClusterTLS is this node's cluster-port material (clusterpki.Material as JSON), sealed
	// by the barrier: the node opens its cluster port with it as soon as it is unsealed.
	ClusterTLS []byte `json:"cluster_tls,omitempty"`
	Shares     int    `json:"shares,omitempty"`
	Threshold  int    `json:"threshold,omitempty"`
}

func (n *Node) sealPath() string { return filepath.Join(n.cfg.DataDir, "seal.json") }

func (n *Node) readLocalSeal() (localSeal, bool, error) {
	b, err := os.ReadFile(n.sealPath())
	if errors.Is(err, os.ErrNotExist) {
		return localSeal{}, false, nil
	}
	if err != nil {
		return localSeal{}, false, fmt.Errorf("core: read %s: %w", n.sealPath(), err)
	}
	var s localSeal
	if err := json.Unmarshal(b, &s); err != nil {
		return localSeal{}, false, fmt.Errorf("core: %s is corrupt: %w", n.sealPath(), err)
	}
	return s, true, nil
}

func (n *Node) writeLocalSeal(s localSeal) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := n.sealPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("core: write seal check: %w", err)
	}
	return os.Rename(tmp, n.sealPath())
}

// saveSeal writes the replicated seal (the sealed keyring, the share counts) to the local
// seal file, so that a restart after a rotation or a rekey unseals with the current keys.
func (n *Node) saveSeal() error {
	var ls localSeal
	n.state.View(func(d *state.Data) {
		ls = localSeal{KeyCheck: d.Seal.KeyCheck, Shares: d.Seal.Shares, Threshold: d.Seal.Threshold}
	})
	if len(ls.KeyCheck) == 0 {
		return nil
	}
	// The node's cluster-port material goes with it, sealed by the keyring now installed, so
	// that a restarted node opens its cluster port as soon as it is unsealed.
	if n.ident.Load() != nil {
		m, err := n.sealMaterial()
		if err != nil {
			return err
		}
		ls.ClusterTLS = m
	}
	return n.writeLocalSeal(ls)
}

// syncSeal runs after the replicated seal may have changed (state.SetSealObserver): an
// unsealed member installs the rotated or rekeyed keyring and saves it locally. A node whose
// keys do not open it (a joining node before AdoptSeal checks) changes nothing.
func (n *Node) syncSeal() {
	if n.barrier.Sealed() {
		return
	}
	var ring, root []byte
	n.state.View(func(d *state.Data) { ring, root = d.Seal.KeyCheck, d.Seal.RootKey })
	changed, err := n.barrier.Sync(ring, root)
	if err != nil {
		n.log.Debug("the replicated keyring is not installed", "error", err)
		return
	}
	if _, member, _ := n.readLocalSeal(); changed && member {
		if err := n.saveSeal(); err != nil {
			n.log.Error("cannot save the rotated keyring locally", "error", err)
		}
	}
}

// sealCounts are the shares and threshold of this node's cluster: from the local seal file,
// else from a join target (joinSeal), else 1 and 1.
func (n *Node) sealCounts() (shares, threshold int) {
	if ls, ok, _ := n.readLocalSeal(); ok && ls.Threshold > 0 {
		return ls.Shares, ls.Threshold
	}
	if c, ok := n.joinSeal.Load().([2]int); ok && c[1] > 0 {
		return c[0], c[1]
	}
	return 1, 1
}
