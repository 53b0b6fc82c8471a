package core

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newNode(t *testing.T, dir, raftAddr string) *Node {
	t.Helper()
	n, err := New(Config{NodeID: "n1", DataDir: dir, RaftBind: raftAddr, APIAddr: "http://127.0.0.1:1", NoNATS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	return n
}

func TestInitSealUnseal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, addr := t.TempDir(), freeAddr(t)
	n := newNode(t, dir, addr)
	if n.Initialized() || !n.Sealed() {
		t.Fatal("a new node claims to be initialised or unsealed")
	}
	if _, err := n.Propose(ctx, state.TypeNoop, "", command.SourceAPI, nil); !errors.Is(err, ErrSealed) {
		t.Fatalf("propose while sealed: %v", err)
	}
	res, err := n.Init(ctx, "root-token")
	if err != nil {
		t.Fatal(err)
	}
	if !n.IsActive() || len(res.Keys) != 1 || res.RootToken != "root-token" {
		t.Fatalf("after init: active=%v %+v", n.IsActive(), res)
	}
	first := n.ActiveSince()
	if first.IsZero() || first.After(time.Now()) {
		t.Fatalf("after init: ActiveSince = %s", first)
	}
	if _, err := n.Init(ctx, ""); !errors.Is(err, ErrAlreadyInitialized) {
		t.Fatalf("second init: %v", err)
	}
	if _, err := n.Propose(ctx, state.TypeMountPut, "m1", command.SourceAPI, state.MountPut{Mount: state.Mount{Path: "database", Type: "database"}}); err != nil {
		t.Fatal(err)
	}
	if err := n.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if !n.Sealed() || n.IsActive() || n.Store() != nil {
		t.Fatal("sealed node still active or running Raft")
	}
	if !n.ActiveSince().IsZero() {
		t.Fatalf("sealed node: ActiveSince = %s, want the zero time", n.ActiveSince())
	}
	wrong, _ := barrier.GenerateKey()
	if err := n.Unseal(ctx, barrier.EncodeKey(wrong)); !errors.Is(err, barrier.ErrWrongKey) {
		t.Fatalf("unseal with another key: %v", err)
	}
	if err := n.Unseal(ctx, "not a key"); err == nil {
		t.Fatal("unseal with garbage accepted")
	}
	if err := n.Unseal(ctx, res.Keys[0]); err != nil {
		t.Fatal(err)
	}
	if err := n.waitActive(ctx); err != nil {
		t.Fatal(err)
	}
	if again := n.ActiveSince(); !again.After(first) {
		t.Fatalf("after unseal: ActiveSince = %s, want a time after the first activation %s", again, first)
	}
	var ok bool
	n.State().View(func(d *state.Data) { _, ok = d.Mounts["database/"] })
	if !ok {
		t.Fatal("state lost across seal and unseal")
	}
	// The root token is a token entry, kept under its salted hash with the salt sealed.
	var (
		sealedSalt []byte
		root       state.Token
		ok2        bool
	)
	n.State().View(func(d *state.Data) {
		sealedSalt = d.Seal.TokenSalt
		for _, tk := range d.Tokens {
			root, ok2 = tk, true
		}
	})
	salt, err := n.Barrier().Decrypt(sealedSalt)
	if err != nil {
		t.Fatalf("token salt: %v", err)
	}
	if !ok2 || root.ID != barrier.SaltedHash(salt, barrier.DomainToken, "root-token") || len(root.Policies) != 1 || root.Policies[0] != "root" {
		t.Fatalf("root token entry = %+v, want policy root under the salted hash", root)
	}
}

func TestRestartNeedsOnlyUnseal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, addr := t.TempDir(), freeAddr(t)
	n := newNode(t, dir, addr)
	res, err := n.Init(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, state.TypeMountPut, "m1", command.SourceAPI, state.MountPut{Mount: state.Mount{Path: "database", Type: "database"}}); err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := newNode(t, dir, addr)
	if !n2.Initialized() || !n2.Sealed() {
		t.Fatal("restarted node: want initialised and sealed")
	}
	if err := n2.Unseal(ctx, res.Keys[0]); err != nil {
		t.Fatal(err)
	}
	if err := n2.waitActive(ctx); err != nil {
		t.Fatal(err)
	}
	var ok bool
	n2.State().View(func(d *state.Data) { _, ok = d.Mounts["database/"] })
	if !ok {
		t.Fatal("acknowledged write lost across a restart")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no id", Config{DataDir: "d", RaftBind: "a", APIAddr: "x"}, "node_id"},
		{"no dir", Config{NodeID: "n", RaftBind: "a", APIAddr: "x"}, "data directory"},
		{"no raft", Config{NodeID: "n", DataDir: "d", APIAddr: "x"}, "raft bind"},
		{"no api", Config{NodeID: "n", DataDir: "d", RaftBind: "a"}, "api_addr"},
		{"event rate outruns the applied ids", Config{NodeID: "n", DataDir: "d", RaftBind: "a", APIAddr: "x", EventLimit: events.Limit{Rate: 5000}}, "above the 100000 applied ids"},
		{"event burst without a rate", Config{NodeID: "n", DataDir: "d", RaftBind: "a", APIAddr: "x", EventLimit: events.Limit{Burst: 10}}, "must be above 0 events/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want mention of %q", err, tt.want)
			}
		})
	}
}
