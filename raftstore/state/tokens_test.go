package state

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

func (a *applier) tokens() map[string]Token {
	a.t.Helper()
	var out map[string]Token
	a.s.View(func(d *Data) { out = maps.Clone(d.Tokens) })
	return out
}

func (a *applier) tokenIDs() []string {
	return slices.Sorted(maps.Keys(a.tokens()))
}

// tok is a token entry whose hashes are derived from a short name.
func tok(name, parent string) Token {
	return Token{ID: "id-" + name, Accessor: "acc-" + name, Parent: parent, Policies: []string{"default"}, Renewable: true}
}

// tree makes root → a → (a1, a2 → a21), root → b.
func tree(a *applier) {
	r := tok("root", "")
	r.Orphan = true
	r.Policies = []string{"root"}
	a.must(TypeTokenCreate, TokenCreate{Token: r})
	for _, t := range []Token{tok("a", "id-root"), tok("a1", "id-a"), tok("a2", "id-a"), tok("a21", "id-a2"), tok("b", "id-root")} {
		a.must(TypeTokenCreate, TokenCreate{Token: t})
	}
}

func TestTokenRevocation(t *testing.T) {
	tests := []struct {
		name     string
		revoke   TokenRevoke
		want     []string
		orphaned []string
	}{
		{"tree under a", TokenRevoke{ID: "id-a"}, []string{"id-b", "id-root"}, nil},
		{"orphan a", TokenRevoke{ID: "id-a", Orphan: true}, []string{"id-a1", "id-a2", "id-a21", "id-b", "id-root"}, []string{"id-a1", "id-a2"}},
		{"leaf", TokenRevoke{ID: "id-a21"}, []string{"id-a", "id-a1", "id-a2", "id-b", "id-root"}, nil},
		{"whole tree", TokenRevoke{ID: "id-root"}, []string{}, nil},
		{"unknown is a no-op", TokenRevoke{ID: "id-nobody"}, []string{"id-a", "id-a1", "id-a2", "id-a21", "id-b", "id-root"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newApplier(t)
			tree(a)
			a.must(TypeTokenRevoke, tc.revoke)
			got := a.tokenIDs()
			if !slices.Equal(got, tc.want) {
				t.Fatalf("tokens left = %v, want %v", got, tc.want)
			}
			toks := a.tokens()
			for _, id := range tc.orphaned {
				if !toks[id].Orphan || toks[id].Parent != "" {
					t.Errorf("%s: orphan=%v parent=%q, want an orphan", id, toks[id].Orphan, toks[id].Parent)
				}
			}
			// Every accessor left points at a live token, and only those.
			var accs map[string]string
			a.s.View(func(d *Data) { accs = maps.Clone(d.TokenAccessors) })
			if len(accs) != len(got) {
				t.Fatalf("%d accessors for %d tokens: %v", len(accs), len(got), accs)
			}
			for acc, id := range accs {
				if toks[id].Accessor != acc {
					t.Errorf("accessor %s → %s, which is gone", acc, id)
				}
			}
			// No live token names a child that is gone.
			for _, tk := range toks {
				for _, c := range tk.Children {
					if _, ok := toks[c]; !ok {
						t.Errorf("%s still lists child %s", tk.ID, c)
					}
				}
			}
		})
	}
}

func TestTokenCreateRefusalsChangeNothing(t *testing.T) {
	expired := tok("old", "")
	expired.Orphan = true
	expired.ExpireTime = epoch.Add(3 * time.Second) // past by the time its child is created
	tests := []struct {
		name string
		tok  Token
		want error
	}{
		{"no id", Token{Accessor: "x", Policies: []string{"default"}}, ErrInvalid},
		{"no accessor", Token{ID: "x", Policies: []string{"default"}}, ErrInvalid},
		{"no policies", Token{ID: "x", Accessor: "y"}, ErrInvalid},
		{"same id", Token{ID: "id-a", Accessor: "new", Policies: []string{"default"}}, ErrExists},
		{"same accessor", Token{ID: "new", Accessor: "acc-a", Policies: []string{"default"}}, ErrExists},
		{"unknown parent", tok("c", "id-nobody"), ErrNotFound},
		{"expired parent", tok("c", "id-old"), ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newApplier(t)
			tree(a)
			a.must(TypeTokenCreate, TokenCreate{Token: expired})
			before := a.snapshotTokens()
			if _, err := a.apply(TypeTokenCreate, TokenCreate{Token: tc.tok}); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !bytes.Equal(before, a.snapshotTokens()) {
				t.Fatal("a refused create changed the token store")
			}
		})
	}
}

func (a *applier) snapshotTokens() []byte {
	a.t.Helper()
	var b bytes.Buffer
	toks := a.tokens()
	for _, k := range slices.Sorted(maps.Keys(toks)) {
		tk := toks[k]
		b.WriteString(tk.ID + "|" + tk.Parent + "|")
		for _, c := range tk.Children {
			b.WriteString(c + ",")
		}
		b.WriteString("\x00")
	}
	return b.Bytes()
}

func TestTokenUses(t *testing.T) {
	a := newApplier(t)
	tree(a)
	two := tok("two", "id-root")
	two.NumUses = 2
	a.must(TypeTokenCreate, TokenCreate{Token: two})
	a.must(TypeTokenCreate, TokenCreate{Token: tok("twochild", "id-two")})
	a.must(TypeTokenUse, TokenUse{ID: "id-two"})
	if got := a.tokens()["id-two"].NumUses; got != 1 {
		t.Fatalf("after one use, %d left, want 1", got)
	}
	a.must(TypeTokenUse, TokenUse{ID: "id-two"}) // the last use is granted; revocation pending
	if got := a.tokens()["id-two"].NumUses; got != UsesPendingRevocation {
		t.Fatalf("after the last use, num_uses = %d, want pending revocation", got)
	}
	if _, err := a.apply(TypeTokenUse, TokenUse{ID: "id-two"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("third use: %v, want ErrNotFound", err)
	}
	if _, err := a.apply(TypeTokenCreate, TokenCreate{Token: tok("late", "id-two")}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a child of a used-up token: %v, want ErrNotFound", err)
	}
	// A token without a limit is unchanged by a use.
	before := a.snapshotTokens()
	a.must(TypeTokenUse, TokenUse{ID: "id-b"})
	if !bytes.Equal(before, a.snapshotTokens()) || a.tokens()["id-b"].NumUses != 0 {
		t.Fatal("using an unlimited token changed it")
	}
}

func TestTokenRenewAndExpiry(t *testing.T) {
	a := newApplier(t)
	tree(a)
	short := tok("short", "id-root")
	short.ExpireTime = epoch.Add(time.Hour)
	a.must(TypeTokenCreate, TokenCreate{Token: short})
	a.must(TypeTokenRenew, TokenRenew{ID: "id-short", ExpireTime: epoch.Add(2 * time.Hour)})
	if got := a.tokens()["id-short"].ExpireTime; !got.Equal(epoch.Add(2 * time.Hour)) {
		t.Fatalf("expire time %v after renew", got)
	}
	fixed := tok("fixed", "id-root")
	fixed.Renewable = false
	a.must(TypeTokenCreate, TokenCreate{Token: fixed})
	gone := tok("gone", "id-root")
	gone.ExpireTime = epoch.Add(time.Second) // before any later command's time
	a.must(TypeTokenCreate, TokenCreate{Token: gone})
	for _, tc := range []struct {
		name string
		r    TokenRenew
		want error
	}{
		{"not renewable", TokenRenew{ID: "id-fixed", ExpireTime: epoch.Add(time.Hour)}, ErrInvalid},
		{"expired", TokenRenew{ID: "id-gone", ExpireTime: epoch.Add(time.Hour)}, ErrNotFound},
		{"unknown", TokenRenew{ID: "id-x", ExpireTime: epoch.Add(time.Hour)}, ErrNotFound},
		{"in the past", TokenRenew{ID: "id-short", ExpireTime: epoch}, ErrInvalid},
	} {
		if _, err := a.apply(TypeTokenRenew, tc.r); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := a.apply(TypeTokenUse, TokenUse{ID: "id-gone"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("use of an expired token: %v, want ErrNotFound", err)
	}
}

func TestTokensSurviveSnapshot(t *testing.T) {
	a := newApplier(t)
	tree(a)
	snap := a.snapshot()
	b := New()
	if err := b.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	var got map[string]Token
	b.View(func(d *Data) { got = d.Tokens })
	if len(got) != 6 || !slices.Equal(got["id-a"].Children, []string{"id-a1", "id-a2"}) {
		t.Fatalf("restored tokens = %v", got)
	}
}
