package raftstore

import (
	"sync"
	"testing"

	"github.com/baton-hq/baton/test/testutil"
)

// warmSpares waits until every node holds a spare to each of its n-1 peers.
func warmSpares(t *testing.T, nodes ...*node) {
	t.Helper()
	for _, nd := range nodes {
		testutil.Eventually(t, waitFor, nd.cfg.NodeID+" to hold a spare to every peer", func() bool {
			return nd.s.stream.spareCount() == len(nodes)-1
		})
	}
}

// hasSpare reports whether nd holds a spare to addr.
func hasSpare(nd *node, addr string) bool {
	nd.s.stream.spareMu.Lock()
	defer nd.s.stream.spareMu.Unlock()
	return nd.s.stream.spares[addr] != nil
}

// TestStepDownHandOverNeedsNoHandshake: after a leadership transfer the new leader reaches its
// peers (RequestVote, heartbeat, replication) over warm spares only, so no TLS handshake sits
// between the step-down and the new leader's first commit.
func TestStepDownHandOverNeedsNoHandshake(t *testing.T) {
	nodes := newCluster(t, 3, nil)
	put(t, nodes[0].s, "c1", "k", "v1")
	led := map[string]bool{"n0": true} // a node that led keeps raft's pooled connections
	for round := range 3 {
		warmSpares(t, nodes...)
		old := leaderOf(t, nodes...)
		cold, served := map[string]int64{}, map[string]int64{}
		for _, nd := range nodes {
			cold[nd.cfg.NodeID] = nd.s.stream.coldDials.Load()
			served[nd.cfg.NodeID] = nd.s.stream.sparesServed.Load()
		}
		if err := old.s.TransferLeadership(ctxFor(t)); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var leader *node
		testutil.Eventually(t, waitFor, "a new leader", func() bool {
			for _, nd := range nodes {
				if nd != old && nd.s.IsLeader() {
					leader = nd
					return true
				}
			}
			return false
		})
		put(t, leader.s, "c"+string(rune('2'+round)), "k", "v")
		id := leader.cfg.NodeID
		if d := leader.s.stream.coldDials.Load() - cold[id]; d != 0 {
			t.Errorf("round %d: the new leader %s dialed %d connection(s) with a handshake on the hand-over", round, id, d)
		}
		if d := leader.s.stream.sparesServed.Load() - served[id]; !led[id] && d < 2 {
			t.Errorf("round %d: the new leader %s (first time) took %d spare(s), want one per peer at least", round, id, d)
		}
		led[id] = true
	}
}

// TestSpareOfAGonePeerIsDropped: a spare whose peer closed (a node stopped or restarted) is
// dropped at once rather than handed to raft as a dead connection; one to a removed member is
// closed, and the removed member's spares are refused by the remaining members (their
// recheck closes them like any connection).
func TestSpareOfAGonePeerIsDropped(t *testing.T) {
	var leader *Store
	var mu sync.Mutex
	isMember := func(id string) bool {
		mu.Lock()
		l := leader
		mu.Unlock()
		return l == nil || l.IsMember(id)
	}
	nodes := newCluster(t, 4, func(c *Config) { c.TLS = testTLS(t, testCA(), c.NodeID, isMember) })
	mu.Lock()
	leader = nodes[0].s
	mu.Unlock()
	warmSpares(t, nodes...)

	// Removed: nobody keeps a spare to n3, and n3's spares to the members are closed by them.
	n3 := nodes[3].s.Addr()
	if err := nodes[0].s.Remove(ctxFor(t), "n3"); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes[:3] {
		testutil.Eventually(t, waitFor, nd.cfg.NodeID+" to drop its spare to the removed n3", func() bool {
			return !hasSpare(nd, n3)
		})
	}
	testutil.Eventually(t, waitFor, "the removed n3's spare to the leader to be refused", func() bool {
		return !hasSpare(nodes[3], nodes[0].s.Addr())
	})

	// Stopped: the watcher sees the close and drops the spare; none is handed out.
	n2 := nodes[2].s.Addr()
	if err := nodes[2].s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes[:2] {
		testutil.Eventually(t, waitFor, nd.cfg.NodeID+" to drop its spare to the stopped n2", func() bool {
			return !hasSpare(nd, n2)
		})
		if c := nd.s.stream.takeSpare(n2); c != nil {
			c.Close()
			t.Fatalf("%s handed out a spare to a stopped peer", nd.cfg.NodeID)
		}
	}
}
