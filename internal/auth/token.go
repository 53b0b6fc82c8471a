package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// OpenBao's token defaults: the system default and maximum TTL (768h, 32 days).
const (
	DefaultTokenTTL = 768 * time.Hour
	MaxTokenTTL     = 768 * time.Hour
	// DefaultExpiryPeriod is how often the active node revokes expired tokens.
	DefaultExpiryPeriod = time.Second
)

// Token store paths, as OpenBao records and checks them.
const (
	PathCreate       = "auth/token/create"
	PathCreateOrphan = "auth/token/create-orphan"
	PathRoot         = "auth/token/root"
)

// ErrBadRequest is a token or generate-root request the store refuses: the message says
// what to fix. HTTP 400.
var ErrBadRequest = errors.New("invalid request")

// ErrBadAccessor is an accessor that names no token (OpenBao: 400 "invalid accessor").
var ErrBadAccessor = fmt.Errorf("%w: invalid accessor", ErrBadRequest)

// Sealer is what the token store needs of the barrier: its salt and accessors are sealed.
// *barrier.Barrier implements it.
type Sealer interface {
	Encrypt(plain []byte) ([]byte, error)
	Decrypt(ct []byte) ([]byte, error)
	Sealed() bool
}

// LeaseRevoker revokes one lease with the one revoke function the secrets engine has (the
// database user is deleted, then the lease). *database.Engine implements it.
type LeaseRevoker interface {
	Revoke(ctx context.Context, id string) error
}

// TokenStoreConfig configures a TokenStore.
type TokenStoreConfig struct {
	Cluster Cluster
	Barrier Sealer
	// Policies, when set, answers whether a caller holds sudo on a path (no_parent).
	Policies *PolicyStore
	// Leases revokes the leases of revoked tokens; nil leaves leases alone.
	Leases LeaseRevoker
	Logger hclog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
	// ExpiryPeriod is how often Run revokes expired tokens (DefaultExpiryPeriod).
	ExpiryPeriod time.Duration
}

// TokenStore is OpenBao's token store over the replicated state: tokens are created,
// renewed, used and revoked through Raft and kept only as salted hashes (state.Token).
// It implements TokenResolver.
type TokenStore struct {
	cfg TokenStoreConfig
	log hclog.Logger

	saltMu     sync.Mutex
	sealedSalt []byte
	salt       []byte
	hasher     *barrier.Hasher

	// leaseMu serialises lease sweeps: a revocation's and the ticker's would otherwise revoke
	// the same lease twice at once.
	leaseMu sync.Mutex
}

// NewTokenStore returns a token store.
func NewTokenStore(cfg TokenStoreConfig) *TokenStore {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ExpiryPeriod <= 0 {
		cfg.ExpiryPeriod = DefaultExpiryPeriod
	}
	return &TokenStore{cfg: cfg, log: cfg.Logger}
}

var _ TokenResolver = (*TokenStore)(nil)

// denied is the one refusal Resolve and the token endpoints give for a bad token: it never
// says whether the token was unknown, expired or used up.
func tokenDenied() error { return fmt.Errorf("token: %w", ErrPermissionDenied) }

// saltKey returns the cluster's token salt, opened with the barrier and cached while the
// sealed value is unchanged and the node unsealed.
func (s *TokenStore) saltKey() ([]byte, error) {
	salt, _, err := s.keys()
	return salt, err
}

// keys is saltKey with the pooled hasher under that salt.
func (s *TokenStore) keys() ([]byte, *barrier.Hasher, error) {
	if s.cfg.Barrier.Sealed() {
		s.saltMu.Lock()
		s.salt, s.sealedSalt, s.hasher = nil, nil, nil
		s.saltMu.Unlock()
		return nil, nil, barrier.ErrSealed
	}
	var sealed []byte
	s.cfg.Cluster.State().View(func(d *state.Data) { sealed = d.Seal.TokenSalt })
	if len(sealed) == 0 {
		return nil, nil, errors.New("token: the cluster has no token salt (initialized before the token store)")
	}
	s.saltMu.Lock()
	defer s.saltMu.Unlock()
	if s.salt != nil && bytes.Equal(s.sealedSalt, sealed) {
		return s.salt, s.hasher, nil
	}
	salt, err := s.cfg.Barrier.Decrypt(sealed)
	if err != nil {
		return nil, nil, fmt.Errorf("token: open the token salt: %w", err)
	}
	s.salt, s.sealedSalt, s.hasher = salt, sealed, barrier.NewHasher(salt)
	return salt, s.hasher, nil
}

// hashes returns the salted hash of a token id (domain token) or accessor.
func (s *TokenStore) hash(domain, v string) (string, error) {
	_, h, err := s.keys()
	if err != nil {
		return "", err
	}
	return h.Hash(domain, v), nil
}

// entry finds a live token by its id (not expired at now, uses left).
func (s *TokenStore) entry(token string) (state.Token, error) {
	return s.lookupEntry(token, false)
}

// lookupEntry is entry; with pending, a token whose last use is spent (pending revocation)
// is found too: it can still be looked up (by the request that spent the use) and revoked,
// as OpenBao's lookup and revoke see a token pending revocation.
func (s *TokenStore) lookupEntry(token string, pending bool) (state.Token, error) {
	if token == "" {
		return state.Token{}, tokenDenied()
	}
	h, err := s.hash(barrier.DomainToken, token)
	if err != nil {
		return state.Token{}, fmt.Errorf("%w: %w", ErrPermissionDenied, err)
	}
	var (
		t  state.Token
		ok bool
	)
	s.cfg.Cluster.State().View(func(d *state.Data) { t, ok = d.Tokens[h] })
	if !ok || t.ExpiredAt(s.cfg.Now()) || (!pending && !t.UsableAt(s.cfg.Now())) {
		return state.Token{}, tokenDenied()
	}
	return t, nil
}

// entryByAccessor finds a live token by its accessor.
func (s *TokenStore) entryByAccessor(accessor string) (state.Token, error) {
	if accessor == "" {
		return state.Token{}, ErrBadAccessor
	}
	h, err := s.hash(barrier.DomainAccessor, accessor)
	if err != nil {
		return state.Token{}, err
	}
	var (
		t  state.Token
		ok bool
	)
	s.cfg.Cluster.State().View(func(d *state.Data) {
		var id string
		if id, ok = d.TokenAccessors[h]; ok {
			t, ok = d.Tokens[id]
		}
	})
	if !ok || !t.UsableAt(s.cfg.Now()) {
		return state.Token{}, ErrBadAccessor
	}
	return t, nil
}

// Resolve implements TokenResolver: the identity of a live token. A token with a use limit
// spends one use through Raft (so on the active node); the use that spends the last one is
// granted, and the token is revoked (with its leases) by the next sweep, once the request it
// authorised has run. Every refusal wraps ErrPermissionDenied; a failure to
// propose the use (not active, sealed) is returned as it is.
func (s *TokenStore) Resolve(ctx context.Context, token string) (Identity, error) {
	t, err := s.entry(token)
	if err != nil {
		return Identity{}, err
	}
	if t.NumUses > 0 {
		if _, err := s.cfg.Cluster.Propose(ctx, state.TypeTokenUse, "", command.SourceAPI, state.TokenUse{ID: t.ID}); err != nil {
			if errors.Is(err, state.ErrNotFound) {
				return Identity{}, tokenDenied()
			}
			return Identity{}, err
		}
	}
	acc, err := s.cfg.Barrier.Decrypt(t.SealedAccessor)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrPermissionDenied, err)
	}
	return Identity{
		Accessor: string(acc), Policies: slices.Clone(t.Policies), DisplayName: t.DisplayName,
		Root: slices.Contains(t.Policies, acl.RootName), ExpireTime: t.ExpireTime, Meta: cloneMeta(t.Meta),
	}, nil
}

func cloneMeta(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// CreateRequest is auth/token/create's parameters.
type CreateRequest struct {
	Policies        []string
	NoDefaultPolicy bool
	TTL             time.Duration
	ExplicitMaxTTL  time.Duration
	Period          time.Duration
	// Renewable defaults to true.
	Renewable *bool
	NumUses   int
	// NoParent (create's no_parent) needs a root or sudo caller; Orphan is create-orphan.
	NoParent    bool
	Orphan      bool
	DisplayName string
	Meta        map[string]string
}

// Auth is the auth block of a create or renew: the new token (only on create) and its
// properties, as OpenBao answers them.
type Auth struct {
	ClientToken   string
	Accessor      string
	Policies      []string
	TokenPolicies []string
	Metadata      map[string]string
	LeaseDuration time.Duration
	Renewable     bool
	Orphan        bool
	NumUses       int
}

// Create makes a token as caller (a resolved identity). OpenBao's rules: the child's
// policies default to the caller's and must be a subset of them unless the caller is root;
// root only for a root caller; default added unless no_default_policy (never to root);
// no_parent only for a root or sudo caller; TTL from ttl or the 768h default, bounded by
// explicit_max_ttl and the 768h maximum, periodic tokens living for their period; a child's
// expiry never after its parent's.
func (s *TokenStore) Create(ctx context.Context, caller Identity, req CreateRequest) (Auth, error) {
	parent, err := s.entryByAccessor(caller.Accessor)
	if err != nil {
		return Auth{}, tokenDenied()
	}
	root := slices.Contains(parent.Policies, acl.RootName)
	path := PathCreate
	orphan := req.Orphan
	if req.Orphan {
		path = PathCreateOrphan
	}
	if req.NoParent && !req.Orphan {
		if !root && !s.sudo(parent.Policies, PathCreate) {
			return Auth{}, fmt.Errorf("%w: root or sudo privileges required to create orphan token", ErrBadRequest)
		}
		orphan = true
	}
	if req.NumUses < 0 {
		return Auth{}, fmt.Errorf("%w: num_uses cannot be negative", ErrBadRequest)
	}
	if req.TTL < 0 || req.ExplicitMaxTTL < 0 || req.Period < 0 {
		return Auth{}, fmt.Errorf("%w: ttl, explicit_max_ttl and period cannot be negative", ErrBadRequest)
	}
	policies, err := childPolicies(parent.Policies, req.Policies, req.NoDefaultPolicy, root)
	if err != nil {
		return Auth{}, err
	}
	now := s.cfg.Now().UTC()
	ttl, err := creationTTL(req, policies, now)
	if err != nil {
		return Auth{}, err
	}
	var expire time.Time
	if ttl > 0 {
		expire = now.Add(ttl)
	}
	if !orphan && !parent.ExpireTime.IsZero() && (expire.IsZero() || expire.After(parent.ExpireTime)) {
		// A child never outlives its parent.
		expire = parent.ExpireTime
		ttl = expire.Sub(now)
	}
	renewable := true
	if req.Renewable != nil {
		renewable = *req.Renewable
	}
	if ttl == 0 {
		renewable = false // nothing to renew: it never expires
	}
	display := "token"
	if req.DisplayName != "" {
		display = "token-" + req.DisplayName
	}
	tok, err := barrier.NewToken()
	if err != nil {
		return Auth{}, err
	}
	entry, acc, err := s.newEntry(tok, policies)
	if err != nil {
		return Auth{}, err
	}
	entry.DisplayName, entry.Meta, entry.Path, entry.Created = display, cloneMeta(req.Meta), path, now
	entry.TTL, entry.ExplicitMaxTTL, entry.Period, entry.Renewable = ttl, req.ExplicitMaxTTL, req.Period, renewable
	entry.NumUses, entry.Orphan, entry.ExpireTime = req.NumUses, orphan, expire
	if !orphan {
		entry.Parent = parent.ID
	}
	if _, err := s.cfg.Cluster.Propose(ctx, state.TypeTokenCreate, "", command.SourceAPI, state.TokenCreate{Token: entry}); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return Auth{}, tokenDenied() // the parent went meanwhile
		}
		return Auth{}, tokenErr(err)
	}
	return Auth{
		ClientToken: tok, Accessor: acc, Policies: policies, TokenPolicies: policies, Metadata: cloneMeta(req.Meta),
		LeaseDuration: ttl, Renewable: renewable, Orphan: orphan, NumUses: req.NumUses,
	}, nil
}

// newEntry makes a token entry's keys for a fresh token: its hashes and sealed accessor.
func (s *TokenStore) newEntry(tok string, policies []string) (state.Token, string, error) {
	acc, err := barrier.NewAccessor()
	if err != nil {
		return state.Token{}, "", err
	}
	salt, err := s.saltKey()
	if err != nil {
		return state.Token{}, "", err
	}
	sealedAcc, err := s.cfg.Barrier.Encrypt([]byte(acc))
	if err != nil {
		return state.Token{}, "", err
	}
	return state.Token{
		ID:             barrier.SaltedHash(salt, barrier.DomainToken, tok),
		Accessor:       barrier.SaltedHash(salt, barrier.DomainAccessor, acc), // once per token: no pool
		SealedAccessor: sealedAcc,
		Policies:       policies,
	}, acc, nil
}

// CreateRoot makes a new root token with no parent (sys/generate-root): policy root, no
// expiry. It returns the token, shown once.
func (s *TokenStore) CreateRoot(ctx context.Context) (string, error) {
	tok, err := barrier.NewToken()
	if err != nil {
		return "", err
	}
	entry, _, err := s.newEntry(tok, []string{acl.RootName})
	if err != nil {
		return "", err
	}
	entry.DisplayName, entry.Path, entry.Created, entry.Orphan = "root", PathRoot, s.cfg.Now().UTC(), true
	if _, err := s.cfg.Cluster.Propose(ctx, state.TypeTokenCreate, "", command.SourceInternal, state.TokenCreate{Token: entry}); err != nil {
		return "", tokenErr(err)
	}
	return tok, nil
}

// sudo reports whether a token with these policies holds sudo on path.
func (s *TokenStore) sudo(policies []string, path string) bool {
	if s.cfg.Policies == nil {
		return false
	}
	a, err := s.cfg.Policies.ACLFor(policies)
	if err != nil {
		return false
	}
	return slices.Contains(a.Capabilities(path), "sudo")
}

// childPolicies applies OpenBao's rules to a child's requested policies.
func childPolicies(parent, asked []string, noDefault, root bool) ([]string, error) {
	var out []string
	for _, p := range asked {
		if n := acl.NormalizeName(p); n != "" {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		// No policies asked: the child inherits its parent's.
		out = slices.Clone(parent)
	} else if !root {
		for _, p := range out {
			if p == acl.RootName {
				return nil, fmt.Errorf("%w: root tokens may only be created by a root token", ErrBadRequest)
			}
			if p != acl.DefaultName && !slices.Contains(parent, p) {
				return nil, fmt.Errorf("%w: child policies must be subset of parent", ErrBadRequest)
			}
		}
	}
	if slices.Contains(out, acl.RootName) {
		return []string{acl.RootName}, nil
	}
	if noDefault {
		out = slices.DeleteFunc(out, func(p string) bool { return p == acl.DefaultName })
	} else if !slices.Contains(out, acl.DefaultName) {
		out = append(out, acl.DefaultName)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: token must have at least one policy", ErrBadRequest)
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// creationTTL is a new token's TTL, 0 for a root token asked with no TTL (it never expires,
// as OpenBao's).
func creationTTL(req CreateRequest, policies []string, now time.Time) (time.Duration, error) {
	isRoot := slices.Contains(policies, acl.RootName)
	if req.Period == 0 && req.TTL == 0 && req.ExplicitMaxTTL == 0 && isRoot {
		return 0, nil
	}
	return boundTTL(req.TTL, req.Period, req.ExplicitMaxTTL, now, now)
}

// boundTTL is OpenBao's CalculateTTL for tokens: a periodic token gets its period; otherwise
// the increment or the default, capped by the explicit max TTL (from creation) and the
// system maximum.
func boundTTL(increment, period, explicitMax time.Duration, created, now time.Time) (time.Duration, error) {
	var ttl time.Duration
	if period > 0 {
		ttl = period
	} else {
		ttl = increment
		if ttl == 0 {
			ttl = DefaultTokenTTL
		}
		if left := MaxTokenTTL - now.Sub(created); ttl > left {
			ttl = left
		}
	}
	if explicitMax > 0 {
		if left := explicitMax - now.Sub(created); ttl > left {
			ttl = left
		}
	}
	if ttl <= 0 {
		return 0, fmt.Errorf("%w: the token has reached its maximum TTL", ErrBadRequest)
	}
	return ttl, nil
}

// TokenInfo is a token as lookup shows it (OpenBao's lookup data).
type TokenInfo struct {
	// ID is the token itself: shown only when the caller looked up by the token.
	ID             string
	Accessor       string
	Policies       []string
	Path           string
	DisplayName    string
	Meta           map[string]string
	CreationTime   time.Time
	CreationTTL    time.Duration
	ExplicitMaxTTL time.Duration
	Period         time.Duration
	TTL            time.Duration
	ExpireTime     time.Time
	NumUses        int
	Orphan         bool
	Renewable      bool
}

func (s *TokenStore) info(t state.Token, id string) (TokenInfo, error) {
	acc, err := s.cfg.Barrier.Decrypt(t.SealedAccessor)
	if err != nil {
		return TokenInfo{}, err
	}
	var ttl time.Duration
	if !t.ExpireTime.IsZero() {
		ttl = max(t.ExpireTime.Sub(s.cfg.Now()), 0)
	}
	return TokenInfo{
		ID: id, Accessor: string(acc), Policies: slices.Clone(t.Policies), Path: t.Path, DisplayName: t.DisplayName,
		Meta: cloneMeta(t.Meta), CreationTime: t.Created, CreationTTL: t.TTL, ExplicitMaxTTL: t.ExplicitMaxTTL,
		Period: t.Period, TTL: ttl, ExpireTime: t.ExpireTime, NumUses: max(t.NumUses, 0), Orphan: t.Orphan, Renewable: t.Renewable,
	}, nil
}

// Lookup reads a token by the token itself (its id is shown back).
func (s *TokenStore) Lookup(token string) (TokenInfo, error) {
	t, err := s.lookupEntry(token, true)
	if err != nil {
		return TokenInfo{}, err
	}
	return s.info(t, token)
}

// LookupAccessor reads a token by its accessor (the id is never shown).
func (s *TokenStore) LookupAccessor(accessor string) (TokenInfo, error) {
	t, err := s.entryByAccessor(accessor)
	if err != nil {
		return TokenInfo{}, err
	}
	return s.info(t, "")
}

// Renew extends a token by increment (its creation TTL when zero; a periodic token by its
// period), within its explicit max TTL and the system maximum.
func (s *TokenStore) Renew(ctx context.Context, token string, increment time.Duration) (Auth, error) {
	t, err := s.entry(token)
	if err != nil {
		return Auth{}, err
	}
	if !t.Renewable {
		return Auth{}, fmt.Errorf("%w: token is not renewable", ErrBadRequest)
	}
	if increment < 0 {
		return Auth{}, fmt.Errorf("%w: increment cannot be negative", ErrBadRequest)
	}
	if increment == 0 {
		increment = t.TTL
	}
	now := s.cfg.Now().UTC()
	ttl, err := boundTTL(increment, t.Period, t.ExplicitMaxTTL, t.Created, now)
	if err != nil {
		return Auth{}, err
	}
	expire := now.Add(ttl)
	if t.Parent != "" {
		var parent state.Token
		s.cfg.Cluster.State().View(func(d *state.Data) { parent = d.Tokens[t.Parent] })
		if !parent.ExpireTime.IsZero() && expire.After(parent.ExpireTime) {
			expire = parent.ExpireTime
			ttl = expire.Sub(now)
		}
	}
	if _, err := s.cfg.Cluster.Propose(ctx, state.TypeTokenRenew, "", command.SourceAPI, state.TokenRenew{ID: t.ID, ExpireTime: expire}); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return Auth{}, tokenDenied()
		}
		return Auth{}, tokenErr(err)
	}
	acc, err := s.cfg.Barrier.Decrypt(t.SealedAccessor)
	if err != nil {
		return Auth{}, err
	}
	return Auth{ClientToken: token, Accessor: string(acc), Policies: t.Policies, TokenPolicies: t.Policies, Metadata: cloneMeta(t.Meta),
		LeaseDuration: ttl, Renewable: true, Orphan: t.Orphan, NumUses: t.NumUses}, nil
}

// Revoke revokes a token and every token under it, then their leases. A token that does
// not exist is not an error (OpenBao's behaviour): there is nothing left to revoke.
func (s *TokenStore) Revoke(ctx context.Context, token string) error {
	t, err := s.lookupEntry(token, true)
	if err != nil {
		return nil
	}
	return s.revoke(ctx, t.ID, false)
}

// RevokeOrphan revokes a token alone: its children become orphans.
func (s *TokenStore) RevokeOrphan(ctx context.Context, token string) error {
	t, err := s.lookupEntry(token, true)
	if err != nil {
		return nil
	}
	return s.revoke(ctx, t.ID, true)
}

// RevokeAccessor revokes the token of an accessor, with its children; an unknown accessor
// is ErrBadAccessor.
func (s *TokenStore) RevokeAccessor(ctx context.Context, accessor string) error {
	t, err := s.entryByAccessor(accessor)
	if err != nil {
		return err
	}
	return s.revoke(ctx, t.ID, false)
}

func (s *TokenStore) revoke(ctx context.Context, id string, orphan bool) error {
	if _, err := s.cfg.Cluster.Propose(ctx, state.TypeTokenRevoke, "", command.SourceAPI, state.TokenRevoke{ID: id, Orphan: orphan}); err != nil {
		return tokenErr(err)
	}
	s.revokeOrphanedLeases(ctx)
	return nil
}

// ListAccessors lists the accessors of every live token, sorted.
func (s *TokenStore) ListAccessors() ([]string, error) {
	var sealed [][]byte
	now := s.cfg.Now()
	s.cfg.Cluster.State().View(func(d *state.Data) {
		for _, t := range d.Tokens {
			if t.UsableAt(now) {
				sealed = append(sealed, t.SealedAccessor)
			}
		}
	})
	out := make([]string, 0, len(sealed))
	for _, ct := range sealed {
		acc, err := s.cfg.Barrier.Decrypt(ct)
		if err != nil {
			return nil, err
		}
		out = append(out, string(acc))
	}
	sort.Strings(out)
	return out, nil
}

// LeaseOwner is the key a lease records for the token that asked for it (the salted hash of
// its accessor): when that token is revoked, by any path, its leases are revoked too.
func (s *TokenStore) LeaseOwner(id Identity) (string, error) {
	if id.Accessor == "" {
		return "", nil
	}
	return s.hash(barrier.DomainAccessor, id.Accessor)
}

// Run revokes expired tokens and the leases of revoked tokens while this node is active,
// every ExpiryPeriod, until ctx ends. active reports whether the node is the active one.
func (s *TokenStore) Run(ctx context.Context, active func() bool) {
	t := time.NewTicker(s.cfg.ExpiryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if active() {
			s.Sweep(ctx)
		}
	}
}

// Sweep is one expiry pass on the active node: every expired or used-up token is revoked
// with its children, then every lease whose token is gone is revoked.
func (s *TokenStore) Sweep(ctx context.Context) {
	now := s.cfg.Now()
	var due []string
	s.cfg.Cluster.State().View(func(d *state.Data) {
		for id, t := range d.Tokens {
			if !t.UsableAt(now) {
				due = append(due, id)
			}
		}
	})
	sort.Strings(due)
	for _, id := range due {
		if _, err := s.cfg.Cluster.Propose(ctx, state.TypeTokenRevoke, "", command.SourceInternal, state.TokenRevoke{ID: id}); err != nil && ctx.Err() == nil {
			s.log.Warn("revoking an expired token", "error", err)
		}
	}
	s.revokeOrphanedLeases(ctx)
}

// revokeOrphanedLeases revokes every lease whose owning token is gone, several at a time (the
// node batches their Raft commands). Failures are logged; the next sweep retries them.
func (s *TokenStore) revokeOrphanedLeases(ctx context.Context) {
	if s.cfg.Leases == nil {
		return
	}
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	var ids []string
	s.cfg.Cluster.State().View(func(d *state.Data) {
		for id, l := range d.Leases {
			if l.Owner == "" {
				continue
			}
			if _, ok := d.TokenAccessors[l.Owner]; !ok {
				ids = append(ids, id)
			}
		}
	})
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.cfg.Leases.Revoke(ctx, id); err != nil && ctx.Err() == nil {
				s.log.Warn("revoking a lease of a revoked token", "lease", id, "error", err)
			}
		}()
	}
	wg.Wait()
}

// tokenErr maps the state's refusals of a token command onto the store's sentinels; other
// errors (sealed, not active, timeouts) pass through for the caller to map.
func tokenErr(err error) error {
	if errors.Is(err, state.ErrInvalid) || errors.Is(err, state.ErrExists) {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return err
}
