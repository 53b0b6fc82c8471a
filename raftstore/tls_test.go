package raftstore

import (
	"bytes"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/baton-hq/baton/internal/clusterpki"
	"github.com/baton-hq/baton/test/testutil"
)

// syncBuffer is a log sink safe for raft's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rawStream is an attacker's raft.StreamLayer: plain TCP, or TLS with whatever config it has.
type rawStream struct {
	net.Listener
	tls *tls.Config
}

func (r *rawStream) Dial(a raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if r.tls == nil {
		return d.Dial("tcp", string(a))
	}
	return tls.DialWithDialer(d, "tcp", string(a), r.tls)
}

// rawClient is a stranger's hashicorp/raft transport.
func rawClient(t *testing.T, tc *tls.Config) *raft.NetworkTransport {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: &rawStream{Listener: ln, tls: tc}, MaxPool: 1, Timeout: 2 * time.Second,
		Logger: hclog.NewNullLogger(),
	})
	t.Cleanup(func() { tr.CloseStreams(); _ = tr.Close() })
	return tr
}

func term(s *Store) uint64 {
	v, _ := strconv.ParseUint(s.raft.Stats()["term"], 10, 64)
	return v
}

// attack sends a higher-term RequestVote and an AppendEntries carrying a junk entry to
// target as "mallory", returning the errors.
func attack(t *testing.T, tr *raft.NetworkTransport, target *node) (voteErr, appendErr error) {
	t.Helper()
	hi := term(target.s) + 100
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("mallory"), Addr: []byte(tr.LocalAddr())}
	var vr raft.RequestVoteResponse
	voteErr = tr.RequestVote(raft.ServerID(target.cfg.NodeID), raft.ServerAddress(target.s.Addr()), &raft.RequestVoteRequest{
		RPCHeader: hdr, Term: hi, LastLogIndex: 1 << 40, LastLogTerm: hi,
	}, &vr)
	var ar raft.AppendEntriesResponse
	appendErr = tr.AppendEntries(raft.ServerID(target.cfg.NodeID), raft.ServerAddress(target.s.Addr()), &raft.AppendEntriesRequest{
		RPCHeader: hdr, Term: hi + 1, PrevLogEntry: target.s.raft.LastIndex(), PrevLogTerm: term(target.s),
		Entries:           []*raft.Log{{Index: target.s.raft.LastIndex() + 1, Term: hi + 1, Type: raft.LogCommand, Data: []byte(`{"v":1,"id":"forged","type":"put"}`)}},
		LeaderCommitIndex: target.s.raft.LastIndex() + 1,
	}, &ar)
	return voteErr, appendErr
}

// TestStrangerCannotDeposeTheLeader runs a 3-node cluster over mutual TLS and attacks its
// leader as the issue's stranger did, with a raw hashicorp/raft client: over plain TCP, over
// TLS with a certificate from another CA, and with a certificate from the cluster CA for a
// node id that is not a member. Each RequestVote and AppendEntries (higher term, a forged
// entry) fails; the leader, its term, the applied index and the state are unchanged, the
// refusal is in the leader's log, and the cluster still commits. A last control with a
// member's certificate shows the same RPC does get through, so the refusals above are the
// cluster port's doing.
func TestStrangerCannotDeposeTheLeader(t *testing.T) {
	logs := &syncBuffer{}
	members := map[string]bool{"n0": true, "n1": true, "n2": true}
	isMember := func(id string) bool { return members[id] }
	nodes := newCluster(t, 3, func(c *Config) {
		if c.NodeID == "n0" {
			c.Logger = hclog.New(&hclog.LoggerOptions{Name: "n0", Level: hclog.Warn, Output: logs})
			m, err := clusterpki.Issue(testCA(), "n0", time.Hour, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			ident, err := clusterpki.NewIdentity("n0", m, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			c.TLS = ident.TLSConfig(isMember, c.Logger)
			return
		}
		c.TLS = testTLS(t, testCA(), c.NodeID, isMember)
	})
	leader := nodes[0]
	put(t, leader.s, "c1", "k", "v")
	for _, nd := range nodes {
		if err := nd.s.WaitForAppliedIndex(ctxFor(t), leader.s.AppliedIndex()); err != nil {
			t.Fatal(err)
		}
	}

	otherCA, err := clusterpki.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign := testTLS(t, otherCA, "n1", nil) // a member's name, the wrong CA
	foreign.NextProtos = []string{ProtocolRaft}
	foreign.VerifyConnection = nil                   // the attacker trusts any server
	stranger := testTLS(t, testCA(), "mallory", nil) // the right CA, not a member
	stranger.NextProtos = []string{ProtocolRaft}
	stranger.VerifyConnection = nil

	for _, tc := range []struct {
		name   string
		tls    *tls.Config
		logged string
	}{
		{"plain TCP", nil, "refused a cluster connection at the TLS handshake"},
		{"certificate from another CA", foreign, "not from the cluster CA"},
		{"cluster certificate of a non-member", stranger, `not a member of the cluster: \"mallory\"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			beforeTerm, beforeIdx, beforeIDs := term(leader.s), leader.s.AppliedIndex(), leader.d.appliedIDs()
			voteErr, appendErr := attack(t, rawClient(t, tc.tls), leader)
			if voteErr == nil || appendErr == nil {
				t.Fatalf("the leader answered a stranger: RequestVote err=%v, AppendEntries err=%v", voteErr, appendErr)
			}
			testutil.Eventually(t, waitFor, "the refusal in the leader's log", func() bool {
				return strings.Contains(logs.String(), tc.logged)
			})
			if !leader.s.IsLeader() || term(leader.s) != beforeTerm || leader.s.AppliedIndex() != beforeIdx {
				t.Fatalf("after the attack: leader=%v term %d→%d applied %d→%d", leader.s.IsLeader(), beforeTerm, term(leader.s), beforeIdx, leader.s.AppliedIndex())
			}
			if got := leader.d.appliedIDs(); strings.Join(got, ",") != strings.Join(beforeIDs, ",") {
				t.Fatalf("the state moved: %v → %v", beforeIDs, got)
			}
			for _, nd := range nodes {
				if id, _ := nd.s.Leader(); id != "n0" {
					t.Fatalf("%s now follows %q", nd.cfg.NodeID, id)
				}
			}
		})
	}
	put(t, leader.s, "c2", "k", "v2") // still commits
	if v, _ := leader.d.get("k"); v != "v2" {
		t.Fatal("the cluster no longer commits after the attacks")
	}

	// Control: a member's own certificate gets the same RPC answered.
	good := testTLS(t, testCA(), "n2", nil)
	good.NextProtos = []string{ProtocolRaft}
	var vr raft.RequestVoteResponse
	tr := rawClient(t, good)
	if err := tr.RequestVote("n0", raft.ServerAddress(leader.s.Addr()), &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n2"), Addr: []byte(nodes[2].s.Addr())}, Term: 0,
	}, &vr); err != nil {
		t.Fatalf("control: a member's certificate was refused too: %v", err)
	}
}

// TestRemovedMemberIsRefusedAtOnce removes n2 and checks that its certificate, still valid
// and from the cluster CA, no longer opens the leader's cluster port, and that the connection
// it had opened before its removal is closed too (TLS checks a certificate only once).
func TestRemovedMemberIsRefusedAtOnce(t *testing.T) {
	var leader *Store
	var mu sync.Mutex
	isMember := func(id string) bool {
		mu.Lock()
		l := leader
		mu.Unlock()
		return l == nil || l.IsMember(id)
	}
	nodes := newCluster(t, 3, func(c *Config) { c.TLS = testTLS(t, testCA(), c.NodeID, isMember) })
	mu.Lock()
	leader = nodes[0].s
	mu.Unlock()
	oldCert := testTLS(t, testCA(), "n2", nil)
	oldCert.NextProtos = []string{ProtocolRaft}
	oldCert.VerifyConnection = nil
	tr := rawClient(t, oldCert)
	var vr raft.RequestVoteResponse
	if err := tr.RequestVote("n0", raft.ServerAddress(nodes[0].s.Addr()), &raft.RequestVoteRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n2"), Addr: []byte(nodes[2].s.Addr())},
	}, &vr); err != nil {
		t.Fatalf("before its removal, n2's certificate is refused: %v", err)
	}
	if err := nodes[0].s.Remove(ctxFor(t), "n2"); err != nil {
		t.Fatal(err)
	}
	if leader.IsMember("n2") || !leader.IsMember("n1") {
		t.Fatal("IsMember does not follow the configuration")
	}
	before := term(nodes[0].s)
	voteErr, appendErr := attack(t, tr, nodes[0]) // over the connection opened before
	if voteErr == nil || appendErr == nil {
		t.Fatalf("a removed member's open connection still works: %v, %v", voteErr, appendErr)
	}
	voteErr, appendErr = attack(t, rawClient(t, oldCert), nodes[0])
	if voteErr == nil || appendErr == nil {
		t.Fatalf("a removed member's certificate still works: %v, %v", voteErr, appendErr)
	}
	if !nodes[0].s.IsLeader() || term(nodes[0].s) != before {
		t.Fatal("the removed member's RPCs moved the leader")
	}
}
