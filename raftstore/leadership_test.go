package raftstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/baton-hq/baton/test/testutil"
)

// TestPublishCoalesces drives the channel logic directly: raft never waits for the consumer,
// unread values are replaced by the latest, and a new term is announced even when the last
// value the consumer saw was already true.
func TestPublishCoalesces(t *testing.T) {
	s := &Store{changes: make(chan bool, 1)}
	recv := func() (bool, bool) {
		select {
		case v := <-s.changes:
			return v, true
		default:
			return false, false
		}
	}

	s.publish(true, 1)
	s.publish(false, 1) // unread true replaced; nothing blocks
	s.publish(true, 2)
	if v, ok := recv(); !ok || !v {
		t.Fatalf("after true/false/true got %v, %v; want the latest, true", v, ok)
	}
	if _, ok := recv(); ok {
		t.Fatal("more than one value queued")
	}
	s.publish(true, 2) // same term: nothing new
	if _, ok := recv(); ok {
		t.Fatal("a repeated state was sent again")
	}
	s.publish(true, 3) // lost and regained between samples: a new term is news
	if v, ok := recv(); !ok || !v {
		t.Fatalf("new term: got %v, %v; want true", v, ok)
	}
	s.publish(false, 3)
	s.publish(false, 4)
	if v, ok := recv(); !ok || v {
		t.Fatalf("loss: got %v, %v; want one false", v, ok)
	}
	if _, ok := recv(); ok {
		t.Fatal("a repeated false was sent again")
	}
}

func TestMapErr(t *testing.T) {
	s := openNode(t, testConfig(t, "solo")).s
	tests := []struct {
		err      error
		proposal bool
		is       []error
		isNot    []error
	}{
		{raft.ErrNotLeader, true, []error{ErrNotLeader, raft.ErrNotLeader}, []error{ErrIndeterminate}},
		{raft.ErrLeadershipTransferInProgress, true, []error{ErrNotLeader, raft.ErrLeadershipTransferInProgress}, []error{ErrIndeterminate}},
		{raft.ErrLeadershipLost, true, []error{ErrIndeterminate, raft.ErrLeadershipLost}, []error{ErrNotLeader}},
		{raft.ErrLeadershipLost, false, []error{ErrNotLeader, raft.ErrLeadershipLost}, []error{ErrIndeterminate}},
		{raft.ErrRaftShutdown, true, []error{ErrIndeterminate, ErrClosed}, nil},
		{raft.ErrRaftShutdown, false, []error{ErrClosed}, []error{ErrIndeterminate}},
		{context.DeadlineExceeded, true, []error{ErrIndeterminate, context.DeadlineExceeded}, nil},
		{raft.ErrEnqueueTimeout, true, []error{raft.ErrEnqueueTimeout}, []error{ErrIndeterminate, ErrNotLeader}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/proposal=%v", tt.err, tt.proposal), func(t *testing.T) {
			got := s.mapErr(tt.err, tt.proposal)
			for _, want := range tt.is {
				if !errors.Is(got, want) {
					t.Errorf("%v: not %v", got, want)
				}
			}
			for _, not := range tt.isNot {
				if errors.Is(got, not) {
					t.Errorf("%v: is %v", got, not)
				}
			}
		})
	}
}

func TestVerifyLeader(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	leader := leaderOf(t, nodes...)
	ctx := ctxFor(t)
	if err := leader.s.VerifyLeader(ctx); err != nil {
		t.Fatalf("leader: %v", err)
	}
	for _, n := range nodes {
		if n != leader {
			if err := n.s.VerifyLeader(ctx); !errors.Is(err, ErrNotLeader) {
				t.Fatalf("follower VerifyLeader = %v, want ErrNotLeader", err)
			}
		}
	}
}

func TestIsolatedLeaderStepsDown(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	old := leaderOf(t, nodes...)
	// Every node must know the whole configuration first, or the survivors cannot elect.
	put(t, old.s, "before-partition", "k0", "v")
	for _, n := range nodes {
		testutil.Eventually(t, waitFor, "every node has the configuration", func() bool { _, ok := n.d.get("k0"); return ok })
	}
	lost := old.s.LeadershipChanges()
	old.s.Isolate(true)
	// The isolated leader cannot reach a quorum: it gives leadership up after its lease.
	recvLeadership(t, old.cfg.NodeID, lost, false)
	var rest []*node
	for _, n := range nodes {
		if n != old {
			rest = append(rest, n)
		}
	}
	nl := leaderOf(t, rest...)
	put(t, nl.s, "after-partition", "k", "v")
	old.s.Isolate(false)
	testutil.Eventually(t, waitFor, "the healed node catches up", func() bool { v, _ := old.d.get("k"); return v == "v" })
}
