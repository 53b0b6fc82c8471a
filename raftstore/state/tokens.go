package state

import (
	"fmt"
	"slices"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
)

// tokenHandlers change the token store: OpenBao's token entries, keyed by the salted hash of
// the token id (Data.Tokens) with an index from the salted hash of the accessor
// (Data.TokenAccessors). Neither a token nor an accessor ever reaches the state in clear: the
// proposer (internal/auth) hashes both with the cluster's sealed salt, and seals the accessor
// (lookups and the accessor listing show it).
//
// Times come in the command: TTLs and expiry are settled by the proposer on the active node;
// Apply only compares them with the command's own time (a token that expired before the
// command that would use it is refused identically on every node).
var tokenHandlers = map[command.Type]handler{
	TypeTokenCreate: on((*txn).tokenCreate),
	TypeTokenRenew:  on((*txn).tokenRenew),
	TypeTokenUse:    on((*txn).tokenUse),
	TypeTokenRevoke: on((*txn).tokenRevoke),
}

// tokenCreate adds a token entry, linked under its parent unless it is an orphan.
func (t *txn) tokenCreate(p TokenCreate) error {
	tok := p.Token
	if tok.ID == "" || tok.Accessor == "" {
		return fmt.Errorf("%w: a token entry needs the hashes of its id and accessor", ErrInvalid)
	}
	if _, dup := t.d.Tokens[tok.ID]; dup {
		return fmt.Errorf("%w: token", ErrExists)
	}
	if _, dup := t.d.TokenAccessors[tok.Accessor]; dup {
		return fmt.Errorf("%w: token accessor", ErrExists)
	}
	if len(tok.Policies) == 0 {
		return fmt.Errorf("%w: a token needs at least one policy", ErrInvalid)
	}
	tok.Children = nil
	if tok.Orphan {
		tok.Parent = ""
	}
	if tok.Parent != "" {
		parent, ok := t.d.Tokens[tok.Parent]
		if !ok || !parent.usableAt(t.c.Time) {
			return fmt.Errorf("%w: the parent token is gone", ErrNotFound)
		}
		prev := parent
		parent.Children = append(slices.Clip(parent.Children), tok.ID)
		t.d.Tokens[tok.Parent] = parent
		t.undo = append(t.undo, func() { t.d.Tokens[tok.Parent] = prev })
	}
	t.d.Tokens[tok.ID] = tok
	t.d.TokenAccessors[tok.Accessor] = tok.ID
	return nil
}

// tokenRenew moves a token's expiry (settled by the proposer within the token's bounds).
func (t *txn) tokenRenew(p TokenRenew) error {
	tok, ok := t.d.Tokens[p.ID]
	if !ok || !tok.usableAt(t.c.Time) {
		return fmt.Errorf("%w: token", ErrNotFound)
	}
	if !tok.Renewable {
		return fmt.Errorf("%w: the token is not renewable", ErrInvalid)
	}
	if !p.ExpireTime.After(t.c.Time) {
		return fmt.Errorf("%w: the new expiry is not in the future", ErrInvalid)
	}
	tok.ExpireTime = p.ExpireTime.UTC()
	tok.LastRenewal = t.c.Time.UTC()
	t.d.Tokens[p.ID] = tok
	return nil
}

// tokenUse spends one use of a token with a use limit. The use that spends the last one is
// granted and leaves the token pending revocation (NumUses = UsesPendingRevocation, refused
// from then on): the request it authorised still runs to its end (a credential it asks for
// is recorded), and the active node's sweep then revokes the token with its children and
// leases, as OpenBao revokes a token after its final use. A token with no limit is left
// alone. A token that is gone, expired or pending revocation is ErrNotFound: the caller is
// refused.
func (t *txn) tokenUse(p TokenUse) error {
	tok, ok := t.d.Tokens[p.ID]
	if !ok || !tok.usableAt(t.c.Time) {
		return fmt.Errorf("%w: token", ErrNotFound)
	}
	if tok.NumUses == 0 {
		return nil
	}
	tok.NumUses--
	if tok.NumUses == 0 {
		tok.NumUses = UsesPendingRevocation
	}
	t.d.Tokens[p.ID] = tok
	return nil
}

// tokenRevoke revokes a token and, unless Orphan, every token under it; with Orphan its
// children are kept and become orphans. Revoking a token that is gone succeeds (a retried
// revocation, an expiry racing an explicit revoke).
func (t *txn) tokenRevoke(p TokenRevoke) error {
	tok, ok := t.d.Tokens[p.ID]
	if !ok {
		return nil
	}
	if !p.Orphan {
		t.revokeTree(p.ID)
		return nil
	}
	for _, c := range tok.Children {
		if child, ok := t.d.Tokens[c]; ok {
			child.Parent = ""
			child.Orphan = true
			t.d.Tokens[c] = child
		}
	}
	tok.Children = nil
	t.d.Tokens[p.ID] = tok
	t.revokeTree(p.ID)
	return nil
}

// revokeTree deletes a token and its descendants, in a fixed order (the children lists are
// ordered), and unlinks it from its parent. It cannot fail: callers validate first.
func (t *txn) revokeTree(id string) {
	root, ok := t.d.Tokens[id]
	if !ok {
		return
	}
	if parent, ok := t.d.Tokens[root.Parent]; ok && root.Parent != "" {
		parent.Children = slices.DeleteFunc(slices.Clone(parent.Children), func(c string) bool { return c == id })
		t.d.Tokens[root.Parent] = parent
	}
	stack := []string{id}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		tok, ok := t.d.Tokens[cur]
		if !ok {
			continue
		}
		stack = append(stack, tok.Children...)
		delete(t.d.Tokens, cur)
		delete(t.d.TokenAccessors, tok.Accessor)
	}
}

// Token is one token entry, as OpenBao's token store keeps it, minus the secrets: ID,
// Accessor, Parent and Children are salted hashes (HMAC-SHA256 under the cluster's sealed
// salt), and the accessor itself is kept only sealed by the barrier.
type Token struct {
	// ID is the salted hash of the token id: the entry's key.
	ID string `json:"id"`
	// Accessor is the salted hash of the accessor: Data.TokenAccessors' key.
	Accessor string `json:"accessor"`
	// SealedAccessor is the accessor sealed by the barrier, for lookups and the listing.
	SealedAccessor []byte `json:"sealed_accessor,omitempty"`
	// Parent is the parent token's ID hash, "" for an orphan.
	Parent string `json:"parent,omitempty"`
	// Children are the ID hashes of the tokens created under this one, oldest first.
	Children []string `json:"children,omitempty"`
	// Policies are the token's policy names, sorted, default included unless left out.
	Policies    []string          `json:"policies"`
	DisplayName string            `json:"display_name"`
	Meta        map[string]string `json:"meta,omitempty"`
	// Path is the path that created the token ("auth/token/create", "auth/token/root").
	Path    string    `json:"path"`
	Created time.Time `json:"created"`
	// TTL is the TTL the token was created with (creation_ttl), 0 for none.
	TTL            time.Duration `json:"ttl"`
	ExplicitMaxTTL time.Duration `json:"explicit_max_ttl,omitempty"`
	Period         time.Duration `json:"period,omitempty"`
	Renewable      bool          `json:"renewable"`
	// NumUses is how many uses are left, 0 for no limit, UsesPendingRevocation once the
	// last one is spent.
	NumUses int  `json:"num_uses,omitempty"`
	Orphan  bool `json:"orphan"`
	// ExpireTime is when the token stops working; zero for never.
	ExpireTime  time.Time `json:"expire_time,omitzero"`
	LastRenewal time.Time `json:"last_renewal,omitzero"`
}

// expiredAt reports whether the token has expired at the given time.
func (t Token) expiredAt(at time.Time) bool {
	return !t.ExpireTime.IsZero() && !at.Before(t.ExpireTime)
}

// UsesPendingRevocation marks a token whose last use is spent: refused, and revoked by the
// active node's sweep once the request it authorised has run.
const UsesPendingRevocation = -1

// usableAt reports whether the token may still be used at the given time.
func (t Token) usableAt(at time.Time) bool { return !t.expiredAt(at) && t.NumUses >= 0 }

// UsableAt reports whether the token may still be used at the given time: not expired and
// not pending revocation.
func (t Token) UsableAt(at time.Time) bool { return t.usableAt(at) }

// ExpiredAt reports whether the token has expired at the given time (a zero ExpireTime
// never expires).
func (t Token) ExpiredAt(at time.Time) bool { return t.expiredAt(at) }
