package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/internal/snapshot"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// TestSnapshotForceSameKeyOtherCluster builds the snapshot of another cluster that shares this
// cluster's unseal key (its key check made with another nonce, so another fingerprint): a plain
// restore refuses it, snapshot-force restores it, and the cluster then carries the other
// fingerprint.
func TestSnapshotForceSameKeyOtherCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := newNode(t, t.TempDir(), freeAddr(t))
	res, err := n.Init(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	key, err := barrier.DecodeKey(res.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, state.TypeMountPut, "", command.SourceAPI, state.MountPut{Mount: state.Mount{Path: "theirs", Type: "database"}}); err != nil {
		t.Fatal(err)
	}
	us, err := n.Store().TakeSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The other cluster: the same state under a key check of its own, written in format 1
	// (the whole state as one JSON document, what snapshots held before format 2), so the
	// restores below also read an old snapshot body.
	body, err := raftstore.SnapshotBody(us.Data)
	if err != nil {
		t.Fatal(err)
	}
	decoded := state.New()
	if err := decoded.Restore(bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	var v1 []byte
	decoded.View(func(d *state.Data) { v1, err = json.Marshal(d) })
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(v1, &d); err != nil {
		t.Fatal(err)
	}
	// The same keyring sealed again by the same root key: the bytes (and so the cluster
	// fingerprint) differ, as another cluster's would, while the state's secrets stay readable.
	check, _, err := n.Barrier().Rekeyed(key)
	if err != nil {
		t.Fatal(err)
	}
	d["seal"].(map[string]any)["key_check"] = check
	other, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	data := append(bytes.Clone(us.Data[:len(us.Data)-len(body)]), other...)
	var archive bytes.Buffer
	theirs := snapshot.Fingerprint(check)
	if err := snapshot.Write(&archive, snapshot.Meta{ID: "other", Created: time.Now(), Cluster: theirs}, data, rootSealer{n.Barrier()}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, state.TypeMountPut, "", command.SourceAPI, state.MountPut{Mount: state.Mount{Path: "ours", Type: "database"}}); err != nil {
		t.Fatal(err)
	}
	ours := n.clusterFingerprint()
	if ours == theirs || ours == "" {
		t.Fatal("the two clusters share a fingerprint")
	}

	err = n.RestoreSnapshot(ctx, bytes.NewReader(archive.Bytes()), false)
	if !errors.Is(err, ErrInvalidRequest) || !errors.Is(err, ErrSnapshotOtherCluster) {
		t.Fatalf("plain restore of another cluster's snapshot: %v", err)
	}
	if err := n.RestoreSnapshot(ctx, bytes.NewReader(archive.Bytes()), true); err != nil {
		t.Fatalf("forced restore: %v", err)
	}
	var mounts []string
	n.state.View(func(d *state.Data) {
		for k := range d.Mounts {
			mounts = append(mounts, k)
		}
	})
	if len(mounts) != 1 || mounts[0] != "theirs/" {
		t.Fatalf("mounts after the forced restore: %v", mounts)
	}
	if got := n.clusterFingerprint(); got != theirs {
		t.Fatalf("fingerprint %q after the forced restore, want the other cluster's %q", got, theirs)
	}
	if !n.IsActive() {
		t.Fatal("the node is not active again after the restore")
	}
}
