package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/clusterpki"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

func newNamedNode(t *testing.T, id string) *Node {
	t.Helper()
	return newNamedNodeTTL(t, id, 0)
}

// newNamedNodeTTL is a node named id whose cluster certificates live ttl (0: the default).
func newNamedNodeTTL(t *testing.T, id string, ttl time.Duration) *Node {
	t.Helper()
	// The tests' slower profile (tripled timings): a two-node cluster under -race on a
	// shared machine must not lose its leader in the middle of the test.
	rc := raftstore.FastConfig()
	rc.HeartbeatTimeout *= 3
	rc.ElectionTimeout *= 3
	rc.LeaderLeaseTimeout *= 3
	n, err := New(Config{NodeID: id, DataDir: t.TempDir(), RaftBind: freeAddr(t), APIAddr: "http://" + id + ":8200", NoNATS: true, Raft: rc, ClusterCertTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n
}

// answerAs is what joiner (unsealed with the cluster's key) answers to the challenge ch,
// for the fields of a; it also returns the node key behind the CSR.
func answerAs(t *testing.T, joiner *Node, ch string, a JoinAnswer) JoinAnswer {
	t.Helper()
	ct, err := base64.StdEncoding.DecodeString(ch)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := joiner.Barrier().RootDecrypt(ct)
	if err != nil {
		t.Fatal(err)
	}
	if a.CSR == nil {
		key, err := clusterpki.NewNodeKey()
		if err != nil {
			t.Fatal(err)
		}
		if a.CSR, err = clusterpki.NewCSR(key, a.ServerID); err != nil {
			t.Fatal(err)
		}
	}
	mac, err := joiner.Barrier().MAC(answerMessage(nonce, a))
	if err != nil {
		t.Fatal(err)
	}
	a.Answer = hex.EncodeToString(mac)
	return a
}

func servers(t *testing.T, n *Node) []string {
	t.Helper()
	cfg, err := n.Store().Configuration()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range cfg {
		ids = append(ids, s.ID+"@"+s.Address)
	}
	slices.Sort(ids)
	return ids
}

// TestJoinAnswerCannotBeReplayedOrForged runs the join handshake between two real nodes
// (Raft over mutual TLS) and attacks it: a forged answer, an answer to a challenge already
// used, an answer made for another server_id, an expired challenge, and a good answer whose
// api_addr or cluster_addr was changed after it was made are each refused with
// ErrJoinRefused, leaving the Raft configuration and the state's nodes unchanged. The good
// answer then joins the node (its granted certificate opens the cluster port and it catches
// up), and replaying that same answer afterwards is refused too.
func TestJoinAnswerCannotBeReplayedOrForged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := newNamedNode(t, "n1")
	ma := NewMembership(a, nil)
	t.Cleanup(ma.Close)
	res, err := a.Init(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	b := newNamedNode(t, "n2")
	mb := NewMembership(b, []string{"http://unused"})
	t.Cleanup(mb.Close)
	if err := b.Unseal(ctx, res.Keys[0]); err != nil || b.Sealed() || b.Store() != nil {
		t.Fatalf("unseal of the joining node: %v (sealed=%v, raft=%v): want the barrier open and no Raft yet", err, b.Sealed(), b.Store() != nil)
	}
	fields := JoinAnswer{ServerID: "n2", ClusterAddr: b.Config().RaftAdvertise, APIAddr: b.Config().APIAddr}
	before := servers(t, a)
	nodesBefore := func() int { var k int; a.State().View(func(d *state.Data) { k = len(d.Nodes) }); return k }()

	challenge := func(id string) string {
		t.Helper()
		ch, err := ma.Challenge(id)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	refusals := []struct {
		name   string
		answer func() JoinAnswer
	}{
		{"forged", func() JoinAnswer {
			challenge("n2")
			f := fields
			f.Answer, f.CSR = hex.EncodeToString(make([]byte, 32)), []byte("x")
			return f
		}},
		{"answer to a used challenge", func() JoinAnswer {
			ch := challenge("n2")
			good := answerAs(t, b, ch, fields)
			bad := good
			bad.Answer = hex.EncodeToString(make([]byte, 32))
			if _, err := ma.Answer(ctx, bad); !errors.Is(err, ErrJoinRefused) {
				t.Fatalf("first (wrong) answer: %v", err)
			}
			return good // the challenge is spent
		}},
		{"answer made for another server_id", func() JoinAnswer {
			challenge("n2")
			other := fields
			other.ServerID = "n3"
			ans := answerAs(t, b, challenge("n3"), other)
			ans.ServerID = "n2"
			return ans
		}},
		{"expired challenge", func() JoinAnswer {
			ch := challenge("n2")
			ma.now = func() time.Time { return time.Now().Add(challengeTTL + time.Second) }
			return answerAs(t, b, ch, fields)
		}},
		{"api_addr changed after answering", func() JoinAnswer {
			ans := answerAs(t, b, challenge("n2"), fields)
			ans.APIAddr = "http://attacker:8200"
			return ans
		}},
		{"cluster_addr changed after answering", func() JoinAnswer {
			ans := answerAs(t, b, challenge("n2"), fields)
			ans.ClusterAddr = "127.0.0.1:1"
			return ans
		}},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			ma.now = time.Now
			ans := tt.answer()
			if _, err := ma.Answer(ctx, ans); !errors.Is(err, ErrJoinRefused) {
				t.Fatalf("Answer: %v, want ErrJoinRefused", err)
			}
			ma.now = time.Now
			if got := servers(t, a); !slices.Equal(got, before) {
				t.Fatalf("the configuration moved: %v → %v", before, got)
			}
			var k int
			a.State().View(func(d *state.Data) { k = len(d.Nodes) })
			if k != nodesBefore {
				t.Fatalf("the state's nodes moved: %d → %d", nodesBefore, k)
			}
		})
	}

	// The good answer joins.
	key, err := clusterpki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	good := fields
	if good.CSR, err = clusterpki.NewCSR(key, "n2"); err != nil {
		t.Fatal(err)
	}
	good = answerAs(t, b, challenge("n2"), good)
	g, err := ma.Answer(ctx, good)
	if err != nil {
		t.Fatalf("the good answer: %v", err)
	}
	if err := mb.startJoined(ctx, grantFor(t, b, g, key)); err != nil {
		t.Fatalf("start the joined node: %v", err)
	}
	testutil.Eventually(t, 30*time.Second, "n2 to follow n1", func() bool {
		id, _ := b.Store().Leader()
		return id == "n1" && len(servers(t, a)) == 2
	})
	after := servers(t, a)

	t.Run("replayed good answer", func(t *testing.T) {
		if _, err := ma.Answer(ctx, good); !errors.Is(err, ErrJoinRefused) {
			t.Fatalf("replayed answer: %v, want ErrJoinRefused", err)
		}
		if got := servers(t, a); !slices.Equal(got, after) {
			t.Fatalf("the replay moved the configuration: %v → %v", after, got)
		}
	})

	// A removed member's certificate stops working at once: its cluster connections are
	// refused and it cannot disturb the leader.
	t.Run("removed member refused", func(t *testing.T) {
		tc, err := b.clusterTLS()
		if err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 30*time.Second, "n1 to be active", a.IsActive)
		if err := ma.RemovePeer(ctx, "n2"); err != nil {
			t.Fatal(err)
		}
		tc.NextProtos = []string{raftstore.ProtocolRaft}
		conn, err := tls.Dial("tcp", a.Config().RaftAdvertise, tc)
		if err == nil {
			_, _ = conn.Write([]byte{0})
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Fatal("the removed member's certificate still opens the leader's cluster port")
		}
		if !a.IsActive() || slices.Contains(servers(t, a), "n2@"+b.Config().RaftAdvertise) {
			t.Fatal("the leader moved or still lists n2")
		}
	})
}

// grantFor turns a grant into the joining node's side of it, checking its MAC the way the
// join client does.
func grantFor(t *testing.T, joiner *Node, g JoinGrant, key any) joinGrant {
	t.Helper()
	caKey, err := joiner.Barrier().RootDecrypt(g.CAKeySealed)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	var peers []string
	for _, p := range g.Peers {
		peers = append(peers, p.ID)
	}
	return joinGrant{material: clusterpki.Material{CACert: g.CACert, CAKey: caKey, Cert: g.Cert, NodeKey: keyDER}, peers: peers}
}

func x509MarshalKey(k any) ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k) }
