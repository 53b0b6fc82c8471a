package core

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/state"
)

// TestMembershipRefusals checks the membership actions' refusals on an initialised, active
// single node, each with the sentinel the API maps to a status: a challenge without an id,
// an answer with a missing field or without a challenge (ErrJoinRefused, nothing recorded),
// RemovePeer of the active node itself, Join on a member, Unseal with a malformed key.
func TestMembershipRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := newNode(t, t.TempDir(), freeAddr(t))
	m := NewMembership(n, nil)
	t.Cleanup(m.Close)
	if _, err := n.Init(ctx, "root-token"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"challenge without id", func() error { _, err := m.Challenge(""); return err }, ErrInvalidRequest},
		{"answer with missing fields", func() error { _, err := m.Answer(ctx, JoinAnswer{ServerID: "n9"}); return err }, ErrInvalidRequest},
		{"answer without a challenge", func() error {
			_, err := m.Answer(ctx, JoinAnswer{ServerID: "n9", Answer: "beef", ClusterAddr: "127.0.0.1:1", APIAddr: "http://x", CSR: []byte("c")})
			return err
		}, ErrJoinRefused},
		{"remove the active node", func() error { return m.RemovePeer(ctx, "n1") }, ErrInvalidRequest},
		{"remove without id", func() error { return m.RemovePeer(ctx, "") }, ErrInvalidRequest},
		{"join on a member", func() error { return m.Join("http://10.0.0.2:8200") }, ErrInvalidRequest},
		{"join without address", func() error { return m.Join("") }, ErrInvalidRequest},
		{"unseal with garbage", func() error { return m.Unseal(ctx, "not a key") }, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	var joined bool
	n.State().View(func(d *state.Data) { _, joined = d.Nodes["n9"] })
	if joined {
		t.Fatal("a refused answer recorded the node")
	}
	servers, applied, err := m.Peers()
	if err != nil || len(servers) != 1 || servers[0].ID != "n1" || !servers[0].Leader || applied == 0 {
		t.Fatalf("Peers = %+v, %d, %v; want n1 alone, leading", servers, applied, err)
	}
}

// TestUnsealWithoutClusterOrTarget checks that a new node with no join target refuses to
// be unsealed (it would start Raft with nobody to join) and stays sealed.
func TestUnsealWithoutClusterOrTarget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := newNode(t, t.TempDir(), freeAddr(t))
	m := NewMembership(n, nil)
	t.Cleanup(m.Close)
	k, err := barrier.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unseal(ctx, hex.EncodeToString(k)); !errors.Is(err, ErrInvalidRequest) || !n.Sealed() {
		t.Fatalf("Unseal on a node without cluster or join target: %v (sealed=%v), want ErrInvalidRequest and sealed", err, n.Sealed())
	}
}
