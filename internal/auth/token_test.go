package auth

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// clock is a settable clock shared by the store and the commands it proposes.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// revoked records the leases the store revokes, deleting them from the state as the engine
// does once the database user is gone.
type revoked struct {
	mu  sync.Mutex
	c   Cluster
	ids []string
}

func (r *revoked) Revoke(ctx context.Context, id string) error {
	r.mu.Lock()
	r.ids = append(r.ids, id)
	r.mu.Unlock()
	_, err := r.c.Propose(ctx, state.TypeLeaseDelete, "", command.SourceInternal, state.LeaseDelete{ID: id})
	return err
}

// tokenEnv is a token store over an in-process state, initialised like a cluster (a sealed
// salt, a root token), with a settable clock.
type tokenEnv struct {
	c      *localCluster
	b      *barrier.Barrier
	s      *TokenStore
	clk    *clock
	leases *revoked
	root   string
	key    []byte     // the unseal key
	mu     sync.Mutex // serialises Propose (the localCluster is not safe for concurrent use)
}

func newTokenEnv(t *testing.T) *tokenEnv { t.Helper(); return newTokenEnvTB(t) }

func newTokenEnvTB(t testing.TB) *tokenEnv {
	t.Helper()
	e := &tokenEnv{c: newLocal(), b: barrier.New(), clk: &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}}
	e.c.now = e.clk.now
	key, _ := barrier.GenerateKey()
	e.key = key
	if err := e.b.Unseal(key, nil); err != nil {
		t.Fatal(err)
	}
	check, _ := barrier.NewKeyring(key)
	salt, _ := barrier.NewTokenSalt()
	sealed, err := e.b.Encrypt(salt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Propose(context.Background(), state.TypeInit, "", command.SourceAPI, state.Init{Seal: state.Seal{KeyCheck: check, Threshold: 1, TokenSalt: sealed}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Propose(context.Background(), state.TypeMountPut, "", command.SourceAPI, state.MountPut{Mount: state.Mount{Path: "database", Type: "database"}}); err != nil {
		t.Fatal(err)
	}
	e.leases = &revoked{c: lockedCluster{e}}
	e.s = NewTokenStore(TokenStoreConfig{Cluster: lockedCluster{e}, Barrier: e.b, Policies: NewPolicyStore(e.c), Leases: e.leases, Now: e.clk.now})
	e.root, err = e.s.CreateRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// lockedCluster serialises proposals (the lease revocations run several at a time).
type lockedCluster struct{ e *tokenEnv }

func (l lockedCluster) State() *state.State { return l.e.c.State() }
func (l lockedCluster) Propose(ctx context.Context, typ command.Type, id string, src command.Source, p any) (*state.Result, error) {
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	return l.e.c.Propose(ctx, typ, id, src, p)
}

func (e *tokenEnv) resolve(t *testing.T, tok string) Identity {
	t.Helper()
	id, err := e.s.Resolve(context.Background(), tok)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	return id
}

func (e *tokenEnv) create(t *testing.T, parent string, req CreateRequest) Auth {
	t.Helper()
	a, err := e.s.Create(context.Background(), e.resolve(t, parent), req)
	if err != nil {
		t.Fatalf("Create(%+v): %v", req, err)
	}
	return a
}

// lease records a lease issued to a token, as the engine does for a creds request.
func (e *tokenEnv) lease(t *testing.T, tok, id string) {
	t.Helper()
	owner, err := e.s.LeaseOwner(e.resolve(t, tok))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (lockedCluster{e}).Propose(context.Background(), state.TypeLeasePut, "", command.SourceAPI, state.LeasePut{Lease: state.Lease{
		ID: id, Mount: "database/", Role: "ro", Expires: e.clk.now().Add(time.Hour), Owner: owner,
	}}); err != nil {
		t.Fatal(err)
	}
}

func (e *tokenEnv) leaseIDs() []string {
	var out []string
	e.c.State().View(func(d *state.Data) {
		for id := range d.Leases {
			out = append(out, id)
		}
	})
	sort.Strings(out)
	return out
}

func isDenied(err error) bool { return errors.Is(err, ErrPermissionDenied) }

// TestResolve: the root token and a child resolve to their identities; every bad token (empty,
// unknown, revoked, expired, used up, another cluster's) is refused with ErrPermissionDenied
// and the same words.
func TestResolve(t *testing.T) {
	e := newTokenEnv(t)
	root := e.resolve(t, e.root)
	if !root.Root || !slices.Equal(root.Policies, []string{"root"}) || root.Accessor == "" || root.DisplayName != "root" {
		t.Fatalf("root identity = %+v", root)
	}
	child := e.create(t, e.root, CreateRequest{Policies: []string{"app"}, DisplayName: "app", Meta: map[string]string{"team": "a"}})
	id := e.resolve(t, child.ClientToken)
	if id.Root || !slices.Equal(id.Policies, []string{"app", "default"}) || id.Accessor != child.Accessor || id.DisplayName != "token-app" || id.Meta["team"] != "a" {
		t.Fatalf("child identity = %+v", id)
	}

	revokedTok := e.create(t, e.root, CreateRequest{}).ClientToken
	if err := e.s.Revoke(context.Background(), revokedTok); err != nil {
		t.Fatal(err)
	}
	short := e.create(t, e.root, CreateRequest{TTL: time.Minute}).ClientToken
	other := newTokenEnv(t) // another cluster: its own salt
	foreign := other.root
	e.clk.add(time.Minute)

	for name, tok := range map[string]string{
		"empty": "", "unknown": "s.AAAAAAAAAAAAAAAAAAAAAAAA", "revoked": revokedTok, "expired": short,
		"another cluster's root": foreign, "an accessor": child.Accessor,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.s.Resolve(context.Background(), tok)
			if !isDenied(err) {
				t.Fatalf("err = %v, want permission denied", err)
			}
			if tok != "" && strings.Contains(err.Error(), tok) {
				t.Fatalf("the refusal shows the token: %v", err)
			}
		})
	}
}

// TestNumUses: a 2-use token works twice, then is refused; after its last use the sweep
// revokes it with the lease that use made.
func TestNumUses(t *testing.T) {
	e := newTokenEnv(t)
	two := e.create(t, e.root, CreateRequest{NumUses: 2})
	if two.NumUses != 2 {
		t.Fatalf("num_uses = %d", two.NumUses)
	}
	e.resolve(t, two.ClientToken) // use 1 (LeaseOwner's Resolve in lease would spend one too)
	if _, err := e.s.Lookup(two.ClientToken); err != nil {
		t.Fatalf("lookup spends no use but failed: %v", err)
	}
	info, _ := e.s.Lookup(two.ClientToken)
	if info.NumUses != 1 {
		t.Fatalf("after one use, num_uses = %d, want 1", info.NumUses)
	}
	e.lease(t, two.ClientToken, "two") // use 2, the last: granted, and its lease recorded
	if _, err := e.s.Resolve(context.Background(), two.ClientToken); !isDenied(err) {
		t.Fatalf("third use: %v, want permission denied", err)
	}
	if _, err := e.s.LookupAccessor(two.Accessor); !errors.Is(err, ErrBadAccessor) {
		t.Fatalf("a used-up token can still be looked up by accessor: %v", err)
	}
	// The request that spent the last use may still look its token up (lookup-self).
	if info, err := e.s.Lookup(two.ClientToken); err != nil || info.NumUses != 0 {
		t.Fatalf("lookup of a token pending revocation: %+v %v", info, err)
	}
	if _, err := e.s.Create(context.Background(), Identity{Accessor: two.Accessor}, CreateRequest{}); !isDenied(err) {
		t.Fatalf("a child of a used-up token: %v", err)
	}
	// The sweep revokes it with the lease its last use made.
	e.s.Sweep(context.Background())
	var n int
	e.c.State().View(func(d *state.Data) { n = len(d.Tokens) })
	if n != 1 || len(e.leaseIDs()) != 0 {
		t.Fatalf("after the sweep: %d tokens (want the root alone), leases %v", n, e.leaseIDs())
	}
}

// TestCreateRules: OpenBao's rules on a child's policies, parent, and TTL.
func TestCreateRules(t *testing.T) {
	e := newTokenEnv(t)
	ctx := context.Background()
	if err := NewPolicyStore(lockedCluster{e}).Put(ctx, "orphaner", `path "auth/token/create" { capabilities = ["update", "sudo"] }`); err != nil {
		t.Fatal(err)
	}
	app := e.create(t, e.root, CreateRequest{Policies: []string{"app", "db"}, TTL: time.Hour})
	sudoer := e.create(t, e.root, CreateRequest{Policies: []string{"orphaner"}})
	tests := []struct {
		name    string
		parent  string
		req     CreateRequest
		wantErr error
		check   func(t *testing.T, a Auth, info TokenInfo)
	}{
		{name: "root child inherits root and never expires", parent: e.root, req: CreateRequest{},
			check: func(t *testing.T, a Auth, info TokenInfo) {
				if !slices.Equal(a.Policies, []string{"root"}) || a.LeaseDuration != 0 || !info.ExpireTime.IsZero() || a.Renewable {
					t.Fatalf("auth %+v, expire %v", a, info.ExpireTime)
				}
			}},
		{name: "default policy added, default TTL 768h", parent: e.root, req: CreateRequest{Policies: []string{"App"}},
			check: func(t *testing.T, a Auth, info TokenInfo) {
				if !slices.Equal(a.Policies, []string{"app", "default"}) || a.LeaseDuration != 768*time.Hour || !a.Renewable {
					t.Fatalf("auth %+v", a)
				}
			}},
		{name: "no_default_policy", parent: e.root, req: CreateRequest{Policies: []string{"app"}, NoDefaultPolicy: true},
			check: func(t *testing.T, a Auth, _ TokenInfo) {
				if !slices.Equal(a.Policies, []string{"app"}) {
					t.Fatalf("policies %v", a.Policies)
				}
			}},
		{name: "explicit max caps ttl", parent: e.root, req: CreateRequest{TTL: 2 * time.Hour, ExplicitMaxTTL: time.Hour},
			check: func(t *testing.T, a Auth, info TokenInfo) {
				if a.LeaseDuration != time.Hour || info.ExplicitMaxTTL != time.Hour {
					t.Fatalf("ttl %v, explicit max %v", a.LeaseDuration, info.ExplicitMaxTTL)
				}
			}},
		{name: "periodic", parent: e.root, req: CreateRequest{Policies: []string{"app"}, Period: 30 * time.Minute},
			check: func(t *testing.T, a Auth, info TokenInfo) {
				if a.LeaseDuration != 30*time.Minute || info.Period != 30*time.Minute {
					t.Fatalf("ttl %v, period %v", a.LeaseDuration, info.Period)
				}
			}},
		{name: "child does not outlive its parent", parent: app.ClientToken, req: CreateRequest{Policies: []string{"app"}, TTL: 5 * time.Hour},
			check: func(t *testing.T, a Auth, _ TokenInfo) {
				if a.LeaseDuration != time.Hour {
					t.Fatalf("ttl %v, want the parent's 1h", a.LeaseDuration)
				}
			}},
		{name: "subset of the parent's policies", parent: app.ClientToken, req: CreateRequest{Policies: []string{"db", "default"}},
			check: func(t *testing.T, a Auth, _ TokenInfo) {
				if !slices.Equal(a.Policies, []string{"db", "default"}) {
					t.Fatalf("policies %v", a.Policies)
				}
			}},
		{name: "non-root inherits its parent's policies", parent: app.ClientToken, req: CreateRequest{},
			check: func(t *testing.T, a Auth, _ TokenInfo) {
				if !slices.Equal(a.Policies, []string{"app", "db", "default"}) {
					t.Fatalf("policies %v", a.Policies)
				}
			}},
		{name: "more policies than the parent", parent: app.ClientToken, req: CreateRequest{Policies: []string{"app", "admin"}}, wantErr: ErrBadRequest},
		{name: "root policy by a non-root caller", parent: app.ClientToken, req: CreateRequest{Policies: []string{"root"}}, wantErr: ErrBadRequest},
		{name: "no_parent without sudo", parent: app.ClientToken, req: CreateRequest{NoParent: true}, wantErr: ErrBadRequest},
		{name: "no_parent with sudo on auth/token/create", parent: sudoer.ClientToken, req: CreateRequest{NoParent: true},
			check: func(t *testing.T, a Auth, _ TokenInfo) {
				if !a.Orphan {
					t.Fatal("not an orphan")
				}
			}},
		{name: "create-orphan by a non-root caller", parent: app.ClientToken, req: CreateRequest{Orphan: true},
			check: func(t *testing.T, a Auth, info TokenInfo) {
				if !a.Orphan || !info.Orphan || info.Path != PathCreateOrphan || a.LeaseDuration != 768*time.Hour {
					t.Fatalf("auth %+v info %+v", a, info)
				}
			}},
		{name: "negative uses", parent: e.root, req: CreateRequest{NumUses: -1}, wantErr: ErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.c.proposed
			a, err := e.s.Create(ctx, e.resolve(t, tc.parent), tc.req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if e.c.proposed != before {
					t.Fatal("a refused create proposed a command")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := e.s.Lookup(a.ClientToken)
			if err != nil {
				t.Fatal(err)
			}
			if info.ID != a.ClientToken || info.Accessor != a.Accessor || !strings.HasPrefix(a.ClientToken, "s.") {
				t.Fatalf("lookup %+v does not match %+v", info, a)
			}
			tc.check(t, a, info)
		})
	}
}

// TestRevokeCascadesToChildrenAndLeases: revoke kills the subtree and its leases;
// revoke-orphan keeps the children (and their leases); revoke-accessor works like revoke;
// revoke-self is Revoke of the caller's token.
func TestRevokeCascadesToChildrenAndLeases(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		revoke     func(e *tokenEnv, parent, child, grandchild Auth) error
		aliveAfter map[string]bool // parent, child, grandchild
		leasesLeft []string
	}{
		{"revoke", func(e *tokenEnv, p, _, _ Auth) error { return e.s.Revoke(ctx, p.ClientToken) },
			map[string]bool{"parent": false, "child": false, "grandchild": false}, []string{"other"}},
		{"revoke-orphan", func(e *tokenEnv, p, _, _ Auth) error { return e.s.RevokeOrphan(ctx, p.ClientToken) },
			map[string]bool{"parent": false, "child": true, "grandchild": true}, []string{"child", "grandchild", "other"}},
		{"revoke-accessor of the child", func(e *tokenEnv, _, c, _ Auth) error { return e.s.RevokeAccessor(ctx, c.Accessor) },
			map[string]bool{"parent": true, "child": false, "grandchild": false}, []string{"other", "parent"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTokenEnv(t)
			parent := e.create(t, e.root, CreateRequest{Policies: []string{"app"}})
			child := e.create(t, parent.ClientToken, CreateRequest{})
			grandchild := e.create(t, child.ClientToken, CreateRequest{})
			other := e.create(t, e.root, CreateRequest{})
			for name, a := range map[string]Auth{"parent": parent, "child": child, "grandchild": grandchild, "other": other} {
				e.lease(t, a.ClientToken, name)
			}
			if err := tc.revoke(e, parent, child, grandchild); err != nil {
				t.Fatal(err)
			}
			for name, a := range map[string]Auth{"parent": parent, "child": child, "grandchild": grandchild} {
				_, err := e.s.Resolve(ctx, a.ClientToken)
				if alive := err == nil; alive != tc.aliveAfter[name] {
					t.Errorf("%s alive = %v, want %v (%v)", name, alive, tc.aliveAfter[name], err)
				}
			}
			if got := e.leaseIDs(); !slices.Equal(got, tc.leasesLeft) {
				t.Fatalf("leases left %v, want %v", got, tc.leasesLeft)
			}
			if tc.name == "revoke-orphan" {
				info, _ := e.s.Lookup(child.ClientToken)
				if !info.Orphan {
					t.Fatal("the child of a revoke-orphan is not an orphan")
				}
			}
		})
	}
	t.Run("unknown accessor", func(t *testing.T) {
		e := newTokenEnv(t)
		if err := e.s.RevokeAccessor(ctx, "nope"); !errors.Is(err, ErrBadAccessor) {
			t.Fatalf("err = %v, want ErrBadAccessor", err)
		}
	})
}

// TestExpirySweep: an expired token is refused at once (by the node's clock); the sweep then
// revokes it with its children and their leases; the root token (no TTL) stays.
func TestExpirySweep(t *testing.T) {
	e := newTokenEnv(t)
	short := e.create(t, e.root, CreateRequest{TTL: time.Minute})
	child := e.create(t, short.ClientToken, CreateRequest{})
	long := e.create(t, e.root, CreateRequest{TTL: time.Hour})
	e.lease(t, child.ClientToken, "child")
	e.lease(t, long.ClientToken, "long")
	e.clk.add(2 * time.Minute)
	if _, err := e.s.Resolve(context.Background(), short.ClientToken); !isDenied(err) {
		t.Fatalf("expired token: %v", err)
	}
	e.s.Sweep(context.Background())
	var n int
	e.c.State().View(func(d *state.Data) { n = len(d.Tokens) })
	if n != 2 {
		t.Fatalf("%d tokens after the sweep, want root and long", n)
	}
	if got := e.leaseIDs(); !slices.Equal(got, []string{"long"}) {
		t.Fatalf("leases %v, want [long]", got)
	}
	e.resolve(t, e.root)
	e.resolve(t, long.ClientToken)
}

// TestRenew: renew moves the expiry within explicit_max_ttl; a periodic token renews to its
// period; a token made with renewable=false is refused.
func TestRenew(t *testing.T) {
	e := newTokenEnv(t)
	ctx := context.Background()
	capped := e.create(t, e.root, CreateRequest{TTL: time.Hour, ExplicitMaxTTL: 90 * time.Minute})
	e.clk.add(30 * time.Minute)
	a, err := e.s.Renew(ctx, capped.ClientToken, 2*time.Hour)
	if err != nil || a.LeaseDuration != time.Hour {
		t.Fatalf("renew within explicit max: %+v %v, want 1h left", a, err)
	}
	periodic := e.create(t, e.root, CreateRequest{Period: 10 * time.Minute})
	e.clk.add(5 * time.Minute)
	if a, err := e.s.Renew(ctx, periodic.ClientToken, 0); err != nil || a.LeaseDuration != 10*time.Minute {
		t.Fatalf("periodic renew: %+v %v", a, err)
	}
	no := false
	fixed := e.create(t, e.root, CreateRequest{TTL: time.Hour, Renewable: &no})
	if _, err := e.s.Renew(ctx, fixed.ClientToken, 0); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("renew of a non-renewable token: %v", err)
	}
	if _, err := e.s.Renew(ctx, "s.nope", 0); !isDenied(err) {
		t.Fatalf("renew of an unknown token: %v", err)
	}
}

// TestHashedOnly: the replicated state (a snapshot, what Raft stores) never holds a token or
// an accessor in clear.
func TestHashedOnly(t *testing.T) {
	e := newTokenEnv(t)
	secrets := []string{e.root}
	for range 3 {
		a := e.create(t, e.root, CreateRequest{Policies: []string{"app"}})
		secrets = append(secrets, a.ClientToken, a.Accessor)
	}
	accs, err := e.s.ListAccessors()
	if err != nil || len(accs) != 4 {
		t.Fatalf("accessors %v %v", accs, err)
	}
	secrets = append(secrets, accs...)
	snap, err := e.c.State().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(snap, []byte(s)) || bytes.Contains(snap, []byte(strings.TrimPrefix(s, "s."))) {
			t.Fatalf("the state holds %q in clear", s)
		}
	}
}

// TestGenerateRoot: OpenBao's flow. A wrong key aborts (progress reset, nothing made), a
// wrong nonce is refused, the right key makes a root token that the OTP decodes, and a
// replayed update of the finished attempt finds none.
func TestGenerateRoot(t *testing.T) {
	e := newTokenEnv(t)
	ctx := context.Background()
	key := e.key
	g := NewRootGenerator(lockedCluster{e}, e.s)

	if _, err := g.Update(ctx, key, "x"); !errors.Is(err, ErrNoRootGeneration) {
		t.Fatalf("update with no attempt: %v", err)
	}
	if _, err := g.Start("short"); !errors.Is(err, ErrRootGenOTPLength) {
		t.Fatalf("short otp: %v", err)
	}
	st, err := g.Start("")
	if err != nil || len(st.OTP) != OTPLength || !st.Started || st.Nonce == "" || st.Required != 1 {
		t.Fatalf("start: %+v %v", st, err)
	}
	if _, err := g.Start(""); !errors.Is(err, ErrRootGenInProgress) {
		t.Fatalf("second start: %v", err)
	}
	if g.Status().OTP != "" {
		t.Fatal("status shows the OTP")
	}
	tokensBefore := func() int {
		var n int
		e.c.State().View(func(d *state.Data) { n = len(d.Tokens) })
		return n
	}
	n0 := tokensBefore()
	wrong, _ := barrier.GenerateKey()
	if _, err := g.Update(ctx, wrong, st.Nonce); !errors.Is(err, ErrRootGenAborted) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := g.Update(ctx, key, "not-the-nonce"); !errors.Is(err, ErrRootGenWrongNonce) {
		t.Fatalf("wrong nonce: %v", err)
	}
	if tokensBefore() != n0 {
		t.Fatal("a refused update made a token")
	}
	done, err := g.Update(ctx, key, st.Nonce)
	if err != nil || !done.Complete || done.EncodedToken == "" {
		t.Fatalf("update: %+v %v", done, err)
	}
	tok, err := DecodeRootToken(done.EncodedToken, st.OTP)
	if err != nil {
		t.Fatal(err)
	}
	if id := e.resolve(t, tok); !id.Root {
		t.Fatalf("generated token identity %+v", id)
	}
	if _, err := g.Update(ctx, key, st.Nonce); !errors.Is(err, ErrNoRootGeneration) {
		t.Fatalf("replayed update: %v", err)
	}
	if tokensBefore() != n0+1 {
		t.Fatal("the replay made another token")
	}
}

// activeCluster is a cluster whose node became active at a settable time.
type activeCluster struct {
	lockedCluster
	since *clock
}

func (a activeCluster) ActiveSince() time.Time { return a.since.now() }

// TestGenerateRootForgottenAfterFailover: an attempt started before this node last became
// active is gone, as OpenBao's is after a step-down or a seal: its OTP and nonce make nothing.
func TestGenerateRootForgottenAfterFailover(t *testing.T) {
	e := newTokenEnv(t)
	since := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	g := NewRootGenerator(activeCluster{lockedCluster{e}, since}, e.s)
	st, err := g.Start("")
	if err != nil {
		t.Fatal(err)
	}
	since.add(time.Minute) // lost and regained leadership
	if g.Status().Started {
		t.Fatal("an attempt from an earlier term is still shown")
	}
	if _, err := g.Update(context.Background(), e.key, st.Nonce); !errors.Is(err, ErrNoRootGeneration) {
		t.Fatalf("update of an attempt from an earlier term: %v", err)
	}
	if _, err := g.Start(""); err != nil {
		t.Fatalf("a new attempt after the failover: %v", err)
	}
}
