package raftstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/test/testutil"
)

func TestSingleNodeApply(t *testing.T) {
	n := openNode(t, testConfig(t, "solo"))
	if err := n.s.Bootstrap(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	id, err := n.s.WaitForLeader(ctxFor(t))
	if err != nil || id != "solo" {
		t.Fatalf("WaitForLeader = %q, %v; want solo", id, err)
	}
	recvLeadership(t, "solo", n.s.LeadershipChanges(), true)
	if err := n.s.Bootstrap(); err != nil {
		t.Fatalf("second Bootstrap on a node with state: %v, want nil", err)
	}

	ctx := ctxFor(t)
	idx, resp, err := n.s.Apply(ctx, putCmd(t, "c1", "a", "1"))
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if want := fmt.Sprintf("stored a at %d", idx); resp != want {
		t.Fatalf("resp = %v, want %q", resp, want)
	}
	if got := n.s.AppliedIndex(); got != idx {
		t.Fatalf("AppliedIndex = %d right after Apply, want %d", got, idx)
	}

	fail, err := command.New("fail", "c2", command.SourceAPI, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	idx2, resp, err := n.s.Apply(ctx, fail)
	if !errors.Is(err, errRefused) {
		t.Fatalf("business refusal: err = %v, want errRefused in the chain", err)
	}
	if respErr, ok := resp.(error); !ok || !errors.Is(respErr, errRefused) {
		t.Fatalf("business refusal: resp = %#v, want the dispatcher's error", resp)
	}
	if idx2 <= idx {
		t.Fatalf("refused command index %d, want > %d (it is committed like any entry)", idx2, idx)
	}

	// A retried command id is applied once: the dispatcher answers from its record.
	if _, _, err := n.s.Apply(ctx, putCmd(t, "c1", "a", "other")); err != nil {
		t.Fatalf("retry apply: %v", err)
	}
	if v, _ := n.d.get("a"); v != "1" {
		t.Fatalf("a = %q after a retried id, want 1", v)
	}

	if err := n.s.Barrier(ctx); err != nil {
		t.Fatalf("barrier: %v", err)
	}
	servers, err := n.s.Configuration()
	if err != nil {
		t.Fatal(err)
	}
	if want := []Server{{ID: "solo", Address: n.s.Addr(), Voter: true, Leader: true}}; !slices.Equal(servers, want) {
		t.Fatalf("Configuration = %+v, want %+v", servers, want)
	}
}

func TestClosedStore(t *testing.T) {
	n := openNode(t, testConfig(t, "solo"))
	if err := n.s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	ch := n.s.LeadershipChanges()
	recvLeadership(t, "solo", ch, true)
	if err := n.s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := n.s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if v, ok := <-ch; !ok || v {
		t.Fatalf("after Close got %v, %v; want a last false", v, ok)
	}
	if _, ok := <-ch; ok {
		t.Fatal("leadership channel still open after Close")
	}
	if _, _, err := n.s.Apply(ctxFor(t), putCmd(t, "x", "k", "v")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Apply after Close: %v, want ErrClosed", err)
	}
	if err := n.s.WaitForAppliedIndex(ctxFor(t), 1<<40); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitForAppliedIndex after Close: %v, want ErrClosed", err)
	}
}

func TestClusterReplicatesAndRefusesFollowers(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	leader := nodes[0]
	ctx := ctxFor(t)

	var last uint64
	for i := range 10 {
		last = put(t, leader.s, fmt.Sprintf("c%d", i), fmt.Sprintf("k%d", i), "v")
	}
	for _, nd := range nodes {
		if err := nd.s.WaitForAppliedIndex(ctx, last); err != nil {
			t.Fatalf("%s: %v", nd.cfg.NodeID, err)
		}
		if got := nd.d.appliedIDs(); len(got) != 10 || got[0] != "c0" || got[9] != "c9" {
			t.Fatalf("%s applied %v, want c0…c9 in order", nd.cfg.NodeID, got)
		}
	}

	_, _, err := nodes[1].s.Apply(ctx, putCmd(t, "f1", "k", "v"))
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Apply on a follower: %v, want ErrNotLeader", err)
	}
	t.Logf("follower refusal: %v", err)
	if !strings.Contains(err.Error(), "n0 at "+leader.s.Addr()) {
		t.Fatalf("ErrNotLeader %q does not name the leader n0 at %s", err, leader.s.Addr())
	}
	if err := nodes[1].s.Join(ctx, "x", "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Join on a follower: %v, want ErrNotLeader", err)
	}
	if err := nodes[1].s.TransferLeadership(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("TransferLeadership on a follower: %v, want ErrNotLeader", err)
	}
	if err := nodes[1].s.Barrier(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Barrier on a follower: %v, want ErrNotLeader", err)
	}
}

func TestMembership(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	leader := nodes[0].s
	ctx := ctxFor(t)

	config := func() map[string]Server {
		t.Helper()
		servers, err := leader.Configuration()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]Server{}
		for _, s := range servers {
			m[s.ID] = s
		}
		return m
	}
	got := config()
	for _, nd := range nodes {
		s, ok := got[nd.cfg.NodeID]
		if !ok || !s.Voter || s.Address != nd.s.Addr() || s.Leader != (nd.cfg.NodeID == "n0") {
			t.Fatalf("Configuration entry for %s = %+v (present %v)", nd.cfg.NodeID, s, ok)
		}
	}

	// Joining a member again with the same id and address changes nothing.
	if err := leader.Join(ctx, "n1", nodes[1].s.Addr()); err != nil {
		t.Fatalf("rejoin n1: %v", err)
	}
	if len(config()) != 3 {
		t.Fatalf("rejoin changed the configuration: %+v", config())
	}

	// A node that comes back with a new address replaces its old entry. n3 never runs: the
	// three live voters are still a quorum of four.
	if err := leader.Join(ctx, "n3", "127.0.0.1:1"); err != nil {
		t.Fatalf("join n3: %v", err)
	}
	if err := leader.Join(ctx, "n3", "127.0.0.1:2"); err != nil {
		t.Fatalf("join n3 at a new address: %v", err)
	}
	if got := config(); len(got) != 4 || got["n3"].Address != "127.0.0.1:2" {
		t.Fatalf("after readdressing n3: %+v", got)
	}

	for _, id := range []string{"n3", "n2", "n2"} { // the second n2 is a no-op
		if err := leader.Remove(ctx, id); err != nil {
			t.Fatalf("remove %s: %v", id, err)
		}
	}
	if got := config(); len(got) != 2 || got["n2"].ID != "" || got["n3"].ID != "" {
		t.Fatalf("after removing n2 and n3: %+v", got)
	}
	// The cluster of two still commits. (The removed node is not told reliably: the leader
	// stops replicating to it, so it may never learn the commit that removed it.)
	idx := put(t, leader, "after-remove", "k", "v")
	if err := nodes[1].s.WaitForAppliedIndex(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].s.Remove(ctx, "n0"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Remove on a follower: %v, want ErrNotLeader", err)
	}
}

func TestFailoverAndRestartCatchesUp(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	old := nodes[0]
	var acked []uint64
	for i := range 5 {
		acked = append(acked, put(t, old.s, fmt.Sprintf("before-%d", i), fmt.Sprintf("b%d", i), "v"))
	}
	if err := old.s.Close(); err != nil {
		t.Fatalf("close leader: %v", err)
	}

	leader := leaderOf(t, nodes[1], nodes[2])
	for i := range 5 {
		acked = append(acked, put(t, leader.s, fmt.Sprintf("after-%d", i), fmt.Sprintf("a%d", i), "v"))
	}

	// The old leader restarts on its directory and port, rebuilding the state from its log and
	// catching up on what it missed.
	back := openNode(t, old.cfg)
	for _, nd := range []*node{back, nodes[1], nodes[2]} {
		if err := nd.s.WaitForAppliedIndex(ctxFor(t), acked[len(acked)-1]); err != nil {
			t.Fatalf("%s: %v", nd.cfg.NodeID, err)
		}
		for i := range 5 {
			for _, key := range []string{fmt.Sprintf("b%d", i), fmt.Sprintf("a%d", i)} {
				if _, ok := nd.d.get(key); !ok {
					t.Fatalf("%s lost acknowledged key %s", nd.cfg.NodeID, key)
				}
			}
		}
	}
	if id, _ := back.s.Leader(); id != leader.cfg.NodeID {
		t.Fatalf("restarted node follows %q, want %s", id, leader.cfg.NodeID)
	}
}

func TestRestartRecoversFromSnapshotAndLog(t *testing.T) {
	n := openNode(t, testConfig(t, "solo"))
	if err := n.s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitFor, "solo to lead", n.s.IsLeader)
	for i := range 10 {
		put(t, n.s, fmt.Sprintf("s%d", i), fmt.Sprintf("s%d", i), "v")
	}
	if err := n.s.Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	var last uint64
	for i := range 5 {
		last = put(t, n.s, fmt.Sprintf("l%d", i), fmt.Sprintf("l%d", i), "v")
	}
	if err := n.s.Close(); err != nil {
		t.Fatal(err)
	}

	back := openNode(t, n.cfg)
	if got := back.d.restoreCount(); got != 1 {
		t.Fatalf("restores on reopen = %d, want 1 (from the snapshot)", got)
	}
	if err := back.s.WaitForAppliedIndex(ctxFor(t), last); err != nil {
		t.Fatal(err)
	}
	want := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "l0", "l1", "l2", "l3", "l4"}
	if got := back.d.appliedIDs(); !slices.Equal(got, want) {
		t.Fatalf("after restart applied %v, want %v", got, want)
	}
}

func TestNewFollowerInstallsSnapshot(t *testing.T) {
	leader := openNode(t, func() Config {
		c := testConfig(t, "n0")
		c.TrailingLogs = 1 // compact so that a new follower can only catch up from the snapshot
		return c
	}())
	if err := leader.s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitFor, "n0 to lead", leader.s.IsLeader)
	for i := range 20 {
		put(t, leader.s, fmt.Sprintf("c%d", i), fmt.Sprintf("k%d", i), "v")
	}
	if err := leader.s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	snapIdx := leader.s.AppliedIndex()

	follower := openNode(t, testConfig(t, "n1"))
	ctx := ctxFor(t)
	if err := leader.s.Join(ctx, "n1", follower.s.Addr()); err != nil {
		t.Fatal(err)
	}
	if err := follower.s.WaitForAppliedIndex(ctx, snapIdx); err != nil {
		t.Fatal(err)
	}
	if got := follower.d.restoreCount(); got != 1 {
		t.Fatalf("follower restores = %d, want 1 (caught up by snapshot)", got)
	}
	if got := len(follower.d.appliedIDs()); got != 20 {
		t.Fatalf("follower has %d ids after the snapshot, want 20", got)
	}
	idx := put(t, leader.s, "c20", "k20", "v")
	if err := follower.s.WaitForAppliedIndex(ctx, idx); err != nil {
		t.Fatal(err)
	}
}

func TestSecondOpenOfDirFails(t *testing.T) {
	first := openNode(t, testConfig(t, "n0"))
	cfg := first.cfg
	cfg.BindAddr = "127.0.0.1:0"
	s, err := Open(cfg, newTestDispatcher())
	if err == nil {
		_ = s.Close()
		t.Fatal("second Open of the same Dir succeeded")
	}
	t.Logf("second open: %v", err)
	if !errors.Is(err, ErrDirInUse) || !strings.Contains(err.Error(), cfg.Dir) {
		t.Fatalf("second Open: %v, want ErrDirInUse naming %s", err, cfg.Dir)
	}
	// The refused open left nothing behind: the first store still works.
	if err := first.s.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitFor, "n0 to lead", first.s.IsLeader)
}

func TestLeadershipChangesOnTransfer(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	old := nodes[0]
	recvLeadership(t, "n0", old.s.LeadershipChanges(), true)
	for _, nd := range nodes[1:] {
		select {
		case v := <-nd.s.LeadershipChanges():
			t.Fatalf("follower %s got leadership %v without leading", nd.cfg.NodeID, v)
		default:
		}
	}

	if err := old.s.TransferLeadership(ctxFor(t)); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	recvLeadership(t, "n0", old.s.LeadershipChanges(), false)
	leader := leaderOf(t, nodes[1], nodes[2])
	recvLeadership(t, leader.cfg.NodeID, leader.s.LeadershipChanges(), true)
	if _, _, err := leader.s.Apply(ctxFor(t), putCmd(t, "after-transfer", "k", "v")); err != nil {
		t.Fatalf("apply on the new leader: %v", err)
	}
	if err := old.s.TransferLeadership(ctxFor(t)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("transfer from a follower: %v, want ErrNotLeader", err)
	}
}

func TestApplyContextEnds(t *testing.T) {
	n := openNode(t, testConfig(t, "solo"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := n.s.Apply(ctx, putCmd(t, "c", "k", "v")); !errors.Is(err, context.Canceled) || errors.Is(err, ErrIndeterminate) {
		t.Fatalf("Apply with a cancelled context: %v, want context.Canceled and nothing proposed", err)
	}
	// No leader yet: the wait ends with the context.
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := n.s.WaitForLeader(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForLeader without a cluster: %v, want DeadlineExceeded", err)
	}
}
