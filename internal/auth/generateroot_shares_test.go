package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// TestGenerateRootWithShares: on a cluster whose unseal key is split 3 of 5, generate-root
// needs three distinct shares; two never complete it, a foreign share among three aborts it
// and makes no token, three good ones make a root token.
func TestGenerateRootWithShares(t *testing.T) {
	e := newTokenEnv(t)
	ctx := context.Background()
	ring, err := barrier.NewKeyring(e.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Propose(ctx, state.TypeSealUpdate, "", command.SourceAPI, state.SealUpdate{KeyCheck: ring, Generation: 1, Shares: 5, Threshold: 3}); err != nil {
		t.Fatal(err)
	}
	shares, err := barrier.SplitKey(e.key, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, _ := barrier.GenerateKey()
	foreign, _ := barrier.SplitKey(otherRoot, 5, 3)
	g := NewRootGenerator(lockedCluster{e}, e.s)
	tokens := func() int {
		var n int
		e.c.State().View(func(d *state.Data) { n = len(d.Tokens) })
		return n
	}
	n0 := tokens()

	st, _ := g.Start("")
	if st.Required != 3 {
		t.Fatalf("required = %d, want 3", st.Required)
	}
	for i, k := range [][]byte{shares[0], shares[3]} {
		got, err := g.Update(ctx, k, st.Nonce)
		if err != nil || got.Complete || got.Progress != i+1 {
			t.Fatalf("share %d: %+v %v", i, got, err)
		}
	}
	if _, err := g.Update(ctx, shares[0], st.Nonce); !errors.Is(err, ErrRootGenDuplicateKey) {
		t.Fatalf("a share given twice: %v", err)
	}
	if _, err := g.Update(ctx, foreign[1], st.Nonce); !errors.Is(err, ErrRootGenAborted) {
		t.Fatalf("a foreign third share: %v", err)
	}
	if tokens() != n0 {
		t.Fatal("an aborted attempt made a token")
	}
	g.Cancel()
	st, _ = g.Start("")
	var done RootGenStatus
	for _, k := range [][]byte{shares[4], shares[2], shares[1]} {
		if done, err = g.Update(ctx, k, st.Nonce); err != nil {
			t.Fatal(err)
		}
	}
	if !done.Complete || done.EncodedToken == "" || tokens() != n0+1 {
		t.Fatalf("3 of 5: %+v, tokens %d → %d", done, n0, tokens())
	}
}
