package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/internal/snapshot"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/state"
)

// Snapshots: saving the replicated state to an operator's file and restoring one
// (sys/storage/raft/snapshot, snapshot-force, `operator raft snapshot`). The file format is
// internal/snapshot's; this file decides which snapshots a cluster accepts and has the active
// node follow a restored state.

// MaxSnapshotState bounds a snapshot's state, decompressed, on restore: far above what a
// cluster holds (100k leases are ~19 MB, ~43 MB in format 1), low enough that a crafted file cannot exhaust memory.
const MaxSnapshotState = 1 << 30

// ErrSnapshotOtherCluster: a plain restore of a snapshot another cluster took.
var ErrSnapshotOtherCluster = errors.New("core: the snapshot was taken on another cluster")

// SaveSnapshot writes an archive of the replicated state, as of now, to w; active node only.
// It is built in memory first, so a failure is an error and never half a file.
func (n *Node) SaveSnapshot(ctx context.Context, w io.Writer) error {
	st, err := n.activeStore()
	if err != nil {
		return err
	}
	us, err := st.TakeSnapshot(ctx)
	if err != nil {
		return fmt.Errorf("core: save snapshot: %w", err)
	}
	m := snapshot.Meta{
		ID:    fmt.Sprintf("%d-%d-%d", us.Term, us.Index, time.Now().UnixMilli()),
		Index: us.Index, Term: us.Term, Created: time.Now().UTC(), Cluster: n.clusterFingerprint(),
	}
	var buf bytes.Buffer
	if err := snapshot.Write(&buf, m, us.Data, rootSealer{n.barrier}); err != nil {
		return fmt.Errorf("core: save snapshot: %w", err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("core: save snapshot: write: %w", err)
	}
	n.log.Info("snapshot saved", "id", m.ID, "index", m.Index)
	return nil
}

// RestoreSnapshot replaces the state of every node with the archive read from r; active node
// only. Without force the archive must come from this cluster (its key check's fingerprint,
// in meta.json and in the sealed state alike); with force it may come from another cluster if
// it decrypts with this cluster's key. Every refusal (damaged, cut short, another cluster, a
// key that does not open it) wraps ErrInvalidRequest and changes nothing. Once Raft has
// installed it, the active node leaves and re-enters the active role, so plugin processes,
// rollbacks and lease expiry follow the restored state (the same reconciliation as after an
// election). Restoring an older snapshot of this cluster is what the caller, who holds sudo,
// asked for: the format cannot tell a replay from a restore, and it needs none.
func (n *Node) RestoreSnapshot(ctx context.Context, r io.Reader, force bool) error {
	st, err := n.activeStore()
	if err != nil {
		return err
	}
	m, sealed, err := snapshot.ReadArchive(r, MaxSnapshotState)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	ours := n.clusterFingerprint()
	if !force && m.Cluster != ours {
		return fmt.Errorf("%w: %w (snapshot cluster %q, this cluster %q): POST sys/storage/raft/snapshot-force restores it if it was sealed with this cluster's unseal key",
			ErrInvalidRequest, ErrSnapshotOtherCluster, m.Cluster, ours)
	}
	plain, err := snapshot.Open(sealed, rootSealer{n.barrier}, MaxSnapshotState)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	// The sealed state is authenticated (GCM); meta.json only checksummed. The state's own key
	// check decides which cluster it belongs to.
	validate := func(body io.Reader) (any, error) {
		s := state.New()
		if err := s.Restore(body); err != nil {
			return nil, err
		}
		var check []byte
		s.View(func(d *state.Data) { check = d.Seal.KeyCheck })
		switch got := snapshot.Fingerprint(check); {
		case got != m.Cluster:
			return nil, fmt.Errorf("meta.json names cluster %q but the state is cluster %q", m.Cluster, got)
		case !force && got != ours:
			return nil, fmt.Errorf("%w (state cluster %q, this cluster %q)", ErrSnapshotOtherCluster, got, ours)
		}
		// The state's restore adopts this one rather than decoding the same bytes again.
		return s, nil
	}
	if err := st.RestoreSnapshot(ctx, plain, validate); err != nil {
		if errors.Is(err, raftstore.ErrBadSnapshot) {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		return fmt.Errorf("core: restore snapshot %s: %w", m.ID, err)
	}
	n.log.Info("snapshot restored; the active node reconciles with it", "id", m.ID, "index", m.Index, "force", force)
	// Wait (bounded by ctx) until the node is active again, so the caller's next request is
	// served rather than refused while the node re-activates. The leadership loop ends only
	// when Raft closes; then the node is no longer active and there is nothing to wait for.
	done := make(chan struct{})
	select {
	case n.reactivate <- done:
	case <-ctx.Done():
		return nil // restored; the re-activation is still to come
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// activeStore is the Raft store when this node is the active node.
func (n *Node) activeStore() (*raftstore.Store, error) {
	if n.barrier.Sealed() {
		return nil, ErrSealed
	}
	if !n.IsActive() {
		return nil, n.notActive()
	}
	st := n.Store()
	if st == nil {
		return nil, ErrSealed
	}
	return st, nil
}

// clusterFingerprint names this cluster by its key check.
func (n *Node) clusterFingerprint() string {
	var check []byte
	n.state.View(func(d *state.Data) { check = d.Seal.KeyCheck })
	return snapshot.Fingerprint(check)
}

// rootSealer seals snapshot archives under the root key (barrier.RootEncrypt), not a keyring
// term: another cluster with the same unseal key has a keyring of its own, and
// snapshot-force must still open its archive (the state inside stays sealed by its terms,
// which the restored keyring, sealed by the same root key, opens).
type rootSealer struct{ b *barrier.Barrier }

func (r rootSealer) Encrypt(plain []byte) ([]byte, error) { return r.b.RootEncrypt(plain) }
func (r rootSealer) Decrypt(ct []byte) ([]byte, error)    { return r.b.RootDecrypt(ct) }
