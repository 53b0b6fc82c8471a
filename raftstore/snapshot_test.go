package raftstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/baton-hq/baton/test/testutil"
)

// decodeKV is a prepare function for the test dispatcher: it decodes the body as Restore would.
func decodeKV(r io.Reader) (any, error) {
	var st snapshotState
	err := json.NewDecoder(r).Decode(&st)
	return st, err
}

// TestRestoreSnapshotOnEveryNode takes a snapshot of a 3-node cluster, writes more, restores
// the snapshot on the leader, and sees every node's dispatcher hold the state of the snapshot
// (the later write gone), and the cluster take writes afterwards. Bad bytes, a failing check
// and a follower are refused with nothing changed.
func TestRestoreSnapshotOnEveryNode(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	l := nodes[0]
	put(t, l.s, "a", "a", "1")
	snap, err := l.s.TakeSnapshot(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Index == 0 || snap.Term == 0 || len(snap.Data) <= snapshotHeaderLen {
		t.Fatalf("snapshot %d/%d of %d bytes", snap.Term, snap.Index, len(snap.Data))
	}
	idx := put(t, l.s, "b", "b", "2")
	for _, nd := range nodes {
		if err := nd.s.WaitForAppliedIndex(ctxFor(t), idx); err != nil {
			t.Fatal(err)
		}
	}

	refused := []struct {
		name    string
		s       *Store
		data    []byte
		prepare func(io.Reader) (any, error)
		want    error
	}{
		{"no header", l.s, []byte("{}"), decodeKV, ErrBadSnapshot},
		{"body does not decode", l.s, append(bytes.Clone(snap.Data[:snapshotHeaderLen]), "not json"...), decodeKV, ErrBadSnapshot},
		{"check fails", l.s, snap.Data, func(io.Reader) (any, error) { return nil, errors.New("no") }, ErrBadSnapshot},
		{"follower", nodes[1].s, snap.Data, decodeKV, ErrNotLeader},
	}
	for _, tc := range refused {
		if err := tc.s.RestoreSnapshot(ctxFor(t), tc.data, tc.prepare); !errors.Is(err, tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if _, ok := l.d.get("b"); !ok || l.d.restoreCount() != 0 {
			t.Fatalf("%s: the state changed", tc.name)
		}
	}

	before := l.s.AppliedIndex()
	if err := l.s.RestoreSnapshot(ctxFor(t), snap.Data, decodeKV); err != nil {
		t.Fatal(err)
	}
	if l.s.AppliedIndex() < before {
		t.Fatalf("AppliedIndex went back from %d to %d", before, l.s.AppliedIndex())
	}
	for _, nd := range nodes {
		testutil.Eventually(t, waitFor, nd.cfg.NodeID+" holds the snapshot's state", func() bool {
			_, hasB := nd.d.get("b")
			a, hasA := nd.d.get("a")
			return hasA && a == "1" && !hasB
		})
	}
	idx = put(t, l.s, "c", "c", "3")
	for _, nd := range nodes {
		if err := nd.s.WaitForAppliedIndex(ctxFor(t), idx); err != nil {
			t.Fatal(err)
		}
		if v, _ := nd.d.get("c"); v != "3" {
			t.Fatalf("%s after the restore: c = %q", nd.cfg.NodeID, v)
		}
	}
}

// preparingDispatcher takes a body the restore's check decoded.
type preparingDispatcher struct {
	*testDispatcher
	prepared int
}

func (p *preparingDispatcher) RestorePrepared(v any) error {
	st := v.(snapshotState)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.kv, p.ids, p.prepared = st.KV, st.IDs, p.prepared+1
	return nil
}

// TestFSMRestoreUsesThePreparedBody: the FSM adopts the prepared value only for the very bytes
// it was decoded from, and decodes anything else.
func TestFSMRestoreUsesThePreparedBody(t *testing.T) {
	body := []byte(`{"kv":{"k":"v"},"ids":["x"]}`)
	other := []byte(`{"kv":{"k":"other"},"ids":["y"]}`)
	for _, tc := range []struct {
		name         string
		restore      []byte
		wantPrepared int
		want         string
	}{
		{"same bytes: adopted", body, 1, "v"},
		{"other bytes: decoded", other, 0, "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &preparingDispatcher{testDispatcher: newTestDispatcher()}
			f := &fsm{d: d}
			v, err := decodeKV(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			f.prepared.Store(&preparedBody{sum: sha256Sum(body), v: v})
			if err := f.restoreBody(bytes.NewReader(tc.restore)); err != nil {
				t.Fatal(err)
			}
			if got, _ := d.get("k"); got != tc.want || d.prepared != tc.wantPrepared {
				t.Fatalf("k = %q, prepared %d", got, d.prepared)
			}
			if f.prepared.Load() != nil {
				t.Fatal("the prepared body is kept after a restore")
			}
		})
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
