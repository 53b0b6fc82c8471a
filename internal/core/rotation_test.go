package core

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/clusterpki"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// TestClusterCertificatesRotate runs two real nodes whose cluster certificates live 3 s: each
// renews its own before expiry, again and again, keeps the renewed one in its local seal
// file, and once the first certificates have expired the cluster still replicates (new
// connections are made with the new certificates; the old ones are closed as they expire).
func TestClusterCertificatesRotate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ttl = 3 * time.Second
	a := newNamedNodeTTL(t, "n1", ttl)
	ma := NewMembership(a, nil)
	t.Cleanup(ma.Close)
	res, err := a.Init(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	b := newNamedNodeTTL(t, "n2", ttl)
	mb := NewMembership(b, []string{"http://unused"})
	t.Cleanup(mb.Close)
	if err := b.Unseal(ctx, res.Keys[0]); err != nil {
		t.Fatal(err)
	}
	key, err := clusterpki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	ans := JoinAnswer{ServerID: "n2", ClusterAddr: b.Config().RaftAdvertise, APIAddr: b.Config().APIAddr}
	if ans.CSR, err = clusterpki.NewCSR(key, "n2"); err != nil {
		t.Fatal(err)
	}
	ch, err := ma.Challenge("n2")
	if err != nil {
		t.Fatal(err)
	}
	g, err := ma.Answer(ctx, answerAs(t, b, ch, ans))
	if err != nil {
		t.Fatal(err)
	}
	if err := mb.startJoined(ctx, grantFor(t, b, g, key)); err != nil {
		t.Fatal(err)
	}
	firstA, firstB := a.ident.Load().Leaf(), b.ident.Load().Leaf()
	renewals := func(n *Node, first string) bool { return n.ident.Load().Leaf().SerialNumber.String() != first }
	testutil.Eventually(t, time.Minute, "both first certificates renewed and expired", func() bool {
		return renewals(a, firstA.SerialNumber.String()) && renewals(b, firstB.SerialNumber.String()) &&
			time.Now().After(firstA.NotAfter) && time.Now().After(firstB.NotAfter)
	})
	for _, n := range []*Node{a, b} {
		if !n.ident.Load().Leaf().NotAfter.After(time.Now()) {
			t.Fatalf("%s holds an expired certificate", n.cfg.NodeID)
		}
	}
	var idx uint64
	testutil.Eventually(t, 30*time.Second, "a write to commit with the renewed certificates", func() bool {
		if !a.IsActive() {
			return false
		}
		r, err := a.Propose(ctx, state.TypeNoop, "", command.SourceAPI, nil)
		if err != nil {
			return false
		}
		idx = r.Index
		return true
	})
	if err := b.Store().WaitForAppliedIndex(ctx, idx); err != nil {
		t.Fatalf("the follower did not apply the write after rotation: %v", err)
	}
	// The seal file keeps a renewed certificate, not the first one.
	ls, ok, err := a.readLocalSeal()
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	raw, err := a.Barrier().Decrypt(ls.ClusterTLS)
	if err != nil {
		t.Fatal(err)
	}
	var m clusterpki.Material
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if string(m.Cert) == string(firstA.Raw) {
		t.Fatal("the local seal file still holds the first certificate")
	}
}
