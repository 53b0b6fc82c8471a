package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The local seal file: the cluster's key check kept in the data directory, so a restarted
// node can check an unseal key before it starts Raft.

// localSeal is kept in the data directory so that a restarted node can check an unseal key
// before it starts Raft (the replicated key check is only readable once Raft runs).
type localSeal struct {
	KeyCheck []byte `json:"key_check"`
	// ClusterTLS is this node's cluster-port material (clusterpki.Material as JSON), sealed
	// by the barrier: the node opens its cluster port with it as soon as it is unsealed.
	ClusterTLS []byte `json:"cluster_tls,omitempty"`
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
