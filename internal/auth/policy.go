package auth

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Sentinel errors callers branch on (the HTTP API maps them to status codes).
var (
	// ErrInvalid is a request the store refuses: a bad name, a bad text (the error is then
	// also an *acl.ParseError naming the line and column), or a built-in that cannot be
	// written or deleted. HTTP 400.
	ErrInvalid = errors.New("invalid policy request")
	// ErrNotFound is a policy that does not exist. HTTP 404.
	ErrNotFound = errors.New("policy not found")
)

// Cluster is what the policy store needs of the node: proposing a command through Raft (on
// the active node) and reading the replicated state. *core.Node implements it.
type Cluster interface {
	// Propose commits a command through Raft on the active node.
	Propose(ctx context.Context, typ command.Type, id string, source command.Source, payload any) (*state.Result, error)
	// State is the replicated state.
	State() *state.State
}

// Policy is one ACL policy as the API shows it: its name and the HCL text written.
type Policy struct {
	Name string
	Text string
}

// PolicyStore keeps the ACL policies in the replicated state and compiles policy sets.
type PolicyStore struct {
	cluster Cluster
	now     func() time.Time

	mu    sync.Mutex
	cache map[string]cachedACL
	// raw caches by the policy list exactly as a token gives it (hashed, then compared), so
	// that a hit costs no normalising, sorting or joining: with 100 policies those cost
	// three times the check itself. Emptied with cache.
	raw  map[uint64]rawACL
	seed maphash.Seed
}

// rawACL is a compiled set under the names exactly as asked.
type rawACL struct {
	names []string
	cachedACL
}

// cachedACL is a compiled policy set and the version of the policy store it was compiled
// from: any policy change (on this node or replicated from another) makes it stale.
type cachedACL struct {
	acl     *acl.ACL
	version uint64
}

// maxCached bounds the cache: past it, the cache is emptied (policy sets are few in practice;
// a flood of distinct sets must not grow memory without bound).
const maxCached = 4096

// NewPolicyStore returns a store over the cluster.
func NewPolicyStore(c Cluster) *PolicyStore {
	return &PolicyStore{cluster: c, now: time.Now, cache: map[string]cachedACL{}, raw: map[uint64]rawACL{}, seed: maphash.MakeSeed()}
}

// Put parses text as an ACL policy and writes it under name (lower-cased, as OpenBao stores
// it). A bad text is ErrInvalid with the *acl.ParseError's line and column; nothing is
// proposed then. Writing the same text again changes nothing observable.
func (s *PolicyStore) Put(ctx context.Context, name, text string) error {
	n := acl.NormalizeName(name)
	if err := acl.CheckWrite(n); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if strings.TrimSpace(text) == "" {
		return fmt.Errorf("%w: policy %q: the policy text is empty", ErrInvalid, n)
	}
	if _, err := acl.Parse(n, []byte(text)); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	_, err := s.cluster.Propose(ctx, state.TypePolicyPut, "", command.SourceAPI, state.PolicyPut{Name: n, Policy: text})
	return stateErr(err)
}

// Delete removes a policy; one that does not exist is not an error (OpenBao's behaviour).
// root and default cannot be deleted (ErrInvalid).
func (s *PolicyStore) Delete(ctx context.Context, name string) error {
	n := acl.NormalizeName(name)
	if n == "" {
		return fmt.Errorf("%w: policy name is empty", ErrInvalid)
	}
	if err := acl.CheckDelete(n); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	_, err := s.cluster.Propose(ctx, state.TypePolicyDelete, "", command.SourceAPI, state.PolicyDelete{Name: n})
	return stateErr(err)
}

// Get reads a policy. root exists with no text, as OpenBao shows it.
func (s *PolicyStore) Get(name string) (Policy, error) {
	n := acl.NormalizeName(name)
	if n == acl.RootName {
		return Policy{Name: acl.RootName}, nil
	}
	var (
		p  state.Policy
		ok bool
	)
	s.cluster.State().View(func(d *state.Data) { p, ok = d.Policies[n] })
	if !ok {
		return Policy{}, fmt.Errorf("%w: %q", ErrNotFound, n)
	}
	return Policy{Name: p.Name, Text: p.Text}, nil
}

// List names every policy, sorted, root included (OpenBao lists it).
func (s *PolicyStore) List() []string {
	var names []string
	s.cluster.State().View(func(d *state.Data) {
		names = make([]string, 0, len(d.Policies)+1)
		for n := range d.Policies {
			names = append(names, n)
		}
	})
	names = append(names, acl.RootName)
	slices.Sort(names)
	return names
}

// ACLFor compiles the ACL of a token holding these policies, from the stored texts. Names are
// matched as stored (lower-cased); a name with no stored policy grants nothing, as in OpenBao.
// root must be alone (acl.ErrRootWithOthers). The result is cached per policy set until any
// policy changes or a stanza's expiration passes.
func (s *PolicyStore) ACLFor(policies []string) (*acl.ACL, error) {
	var h maphash.Hash
	h.SetSeed(s.seed)
	for _, p := range policies {
		h.WriteString(p)
		h.WriteByte(0)
	}
	rawKey := h.Sum64()
	var version uint64
	s.cluster.State().View(func(d *state.Data) { version = d.PoliciesVersion })
	s.mu.Lock()
	r, ok := s.raw[rawKey]
	s.mu.Unlock()
	if ok && r.version == version && slices.Equal(r.names, policies) && (r.acl.ValidUntil().IsZero() || s.now().Before(r.acl.ValidUntil())) {
		return r.acl, nil
	}
	compiled, version, err := s.aclFor(policies)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.raw) >= maxCached {
		clear(s.raw)
	}
	s.raw[rawKey] = rawACL{names: slices.Clone(policies), cachedACL: cachedACL{acl: compiled, version: version}}
	s.mu.Unlock()
	return compiled, nil
}

// aclFor is ACLFor by the normalised, sorted set, and the policy version it compiled from.
func (s *PolicyStore) aclFor(policies []string) (*acl.ACL, uint64, error) {
	names := make([]string, 0, len(policies))
	for _, p := range policies {
		if n := acl.NormalizeName(p); n != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	key := strings.Join(names, "\x00")
	now := s.now()

	var version uint64
	s.cluster.State().View(func(d *state.Data) { version = d.PoliciesVersion })
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	if ok && c.version == version && (c.acl.ValidUntil().IsZero() || now.Before(c.acl.ValidUntil())) {
		return c.acl, c.version, nil
	}

	// The texts and the version they belong to are read together, so a change applied
	// meanwhile makes this entry stale rather than hiding behind it.
	var texts []state.Policy
	s.cluster.State().View(func(d *state.Data) {
		version = d.PoliciesVersion
		for _, n := range names {
			if p, ok := d.Policies[n]; ok {
				texts = append(texts, p)
			}
		}
	})
	parsed := make([]*acl.Policy, 0, len(names))
	if slices.Contains(names, acl.RootName) {
		parsed = append(parsed, acl.RootPolicy())
	}
	for _, p := range texts {
		pp, err := acl.Parse(p.Name, []byte(p.Text))
		if err != nil {
			return nil, 0, fmt.Errorf("stored policy %q: %w", p.Name, err)
		}
		parsed = append(parsed, pp)
	}
	compiled, err := acl.Compile(now, parsed...)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[key] = cachedACL{acl: compiled, version: version}
	s.mu.Unlock()
	return compiled, version, nil
}

// stateErr maps the state's refusals onto the store's sentinels; other errors (sealed, not
// active, timeouts) pass through for the caller to map.
func stateErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, state.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case errors.Is(err, state.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
