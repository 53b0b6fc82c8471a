package acl

import (
	"errors"
	"math/bits"
	"strings"
	"time"
)

// ErrRootWithOthers is returned by Compile when the root policy comes with other policies:
// OpenBao refuses that combination rather than guess what the token should be.
var ErrRootWithOthers = errors.New("the root policy cannot be combined with other policies")

// numCaps is the number of capability bits.
const numCaps = 9

// rule is the merged permissions of every stanza that names one path pattern.
type rule struct {
	caps     Capability
	granting [numCaps][]string // policy names per capability bit, for audit
	allowed  map[string][]any  // while compiling
	denied   map[string][]any  // while compiling
	// allowedSet and deniedSet are allowed and denied, compiled once merging is done.
	allowedSet map[string]*valueSet
	deniedSet  map[string]*valueSet
	required   []string
	minWrap    time.Duration
	maxWrap    time.Duration
}

// wildRule is a pattern with "+" segments.
type wildRule struct {
	parts     []string // segments; the last one without its trailing "*"
	prefix    bool     // ended in "*"
	firstWC   int      // byte offset of the first "+"
	wildcards int      // number of "+" segments
	path      string   // the pattern without its trailing "*", for the last two priority rules
	r         *rule
}

// ACL is the compiled union of a token's policies. It is immutable and safe for concurrent use.
type ACL struct {
	root       bool
	policies   []string
	exact      map[string]*rule
	prefix     *radix[*rule]
	wild       *segTrie
	validUntil time.Time
}

// Compile merges policies into one ACL as of now: stanzas whose expiration has passed are left
// out, and the ACL reports the earliest expiration still ahead in ValidUntil (after which Check
// refuses everything, so that a cached ACL never outlives a stanza). Nil policies are skipped;
// a policy named "root" makes a root ACL and must come alone.
func Compile(now time.Time, policies ...*Policy) (*ACL, error) {
	a := &ACL{exact: map[string]*rule{}}
	prefixes := map[string]*rule{}
	wilds := map[string]*rule{}
	for _, p := range policies {
		if p == nil {
			continue
		}
		a.policies = append(a.policies, p.Name)
		if p.Name == RootName {
			a.root = true
		}
	}
	if a.root {
		if len(a.policies) != 1 {
			return nil, ErrRootWithOthers
		}
		return a, nil
	}
	for _, p := range policies {
		if p == nil {
			continue
		}
		for i := range p.Paths {
			pr := &p.Paths[i]
			if pr.Templated {
				continue // never resolves: Baton has no identity entities
			}
			if !pr.Expiration.IsZero() {
				if !now.Before(pr.Expiration) {
					continue
				}
				if a.validUntil.IsZero() || pr.Expiration.Before(a.validUntil) {
					a.validUntil = pr.Expiration
				}
			}
			table, key := a.exact, pr.Path
			switch {
			case hasSegmentWildcard(pr.Path):
				table = wilds
			case strings.HasSuffix(pr.Path, "*"):
				table, key = prefixes, strings.TrimSuffix(pr.Path, "*")
			}
			if r, ok := table[key]; ok {
				r.merge(p.Name, pr)
			} else {
				table[key] = newRule(p.Name, pr)
			}
		}
	}
	for _, table := range []map[string]*rule{a.exact, prefixes, wilds} {
		for _, r := range table {
			r.allowedSet, r.deniedSet = compileSets(r.allowed), compileSets(r.denied)
			r.allowed, r.denied = nil, nil
		}
	}
	if len(prefixes) > 0 {
		a.prefix = &radix[*rule]{}
		for k, r := range prefixes {
			a.prefix.insert(k, r)
		}
	}
	if len(wilds) > 0 {
		a.wild = &segTrie{}
		for k, r := range wilds {
			a.wild.insert(newWildRule(k, r))
		}
	}
	return a, nil
}

// hasSegmentWildcard reports whether a pattern goes with the "+" patterns, by OpenBao's test:
// "+" alone, or a "+" that starts a segment. Only a whole "+" segment is a wildcard when
// matching; a "+" starting a longer segment is a literal, but the pattern still ranks among the
// "+" patterns, from the place of that "+", as in OpenBao.
func hasSegmentWildcard(p string) bool {
	return p == "+" || strings.HasPrefix(p, "+/") || strings.Contains(p, "/+")
}

func newWildRule(pattern string, r *rule) *wildRule {
	w := &wildRule{r: r, path: pattern}
	if s, ok := strings.CutSuffix(pattern, "*"); ok {
		w.prefix, w.path = true, s
	}
	w.parts = strings.Split(w.path, "/")
	for _, part := range w.parts {
		if part == "+" {
			w.wildcards++
		}
	}
	w.firstWC = strings.IndexByte(pattern, '+')
	return w
}

// newRule starts a rule from one stanza, copying what later merges may change.
func newRule(policy string, pr *PathRule) *rule {
	r := &rule{
		caps:     pr.Capabilities,
		allowed:  cloneParams(pr.AllowedParameters),
		denied:   cloneParams(pr.DeniedParameters),
		required: append([]string(nil), pr.RequiredParameters...),
		minWrap:  pr.MinWrappingTTL,
		maxWrap:  pr.MaxWrappingTTL,
	}
	r.addGranting(policy, pr.Capabilities)
	return r
}

func cloneParams(m map[string][]any) map[string][]any {
	if m == nil {
		return nil
	}
	out := make(map[string][]any, len(m))
	for k, v := range m {
		out[k] = append([]any{}, v...)
	}
	return out
}

func (r *rule) addGranting(policy string, c Capability) {
	for c != 0 {
		i := bits.TrailingZeros16(uint16(c))
		r.granting[i] = append(r.granting[i], policy)
		c &^= 1 << i
	}
}

// merge folds another stanza for the same pattern into r, with OpenBao's rules: deny wins over
// everything; otherwise capabilities are united, the smaller wrapping bounds kept, parameter
// lists merged (an empty list, meaning any value, absorbs the other) and required parameters
// united.
func (r *rule) merge(policy string, pr *PathRule) {
	switch {
	case r.caps&CapDeny != 0:
		return
	case pr.Capabilities&CapDeny != 0:
		r.caps = CapDeny
		r.granting = [numCaps][]string{}
		r.addGranting(policy, CapDeny)
		r.allowed, r.denied = nil, nil
		return
	}
	r.caps |= pr.Capabilities
	r.addGranting(policy, pr.Capabilities)
	if pr.MaxWrappingTTL > 0 && (r.maxWrap == 0 || pr.MaxWrappingTTL < r.maxWrap) {
		r.maxWrap = pr.MaxWrappingTTL
	}
	if pr.MinWrappingTTL > 0 && (r.minWrap == 0 || pr.MinWrappingTTL < r.minWrap) {
		r.minWrap = pr.MinWrappingTTL
	}
	r.allowed = mergeParams(r.allowed, pr.AllowedParameters)
	r.denied = mergeParams(r.denied, pr.DeniedParameters)
	for _, q := range pr.RequiredParameters {
		if !contains(r.required, q) {
			r.required = append(r.required, q)
		}
	}
}

func mergeParams(into, from map[string][]any) map[string][]any {
	if len(from) == 0 {
		return into
	}
	if into == nil {
		return cloneParams(from)
	}
	for k, v := range from {
		old, ok := into[k]
		if len(v) == 0 || (ok && len(old) == 0) {
			into[k] = []any{}
			continue
		}
		into[k] = append(append([]any{}, v...), old...)
	}
	return into
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Policies names the policies the ACL was compiled from.
func (a *ACL) Policies() []string { return append([]string(nil), a.policies...) }

// IsRoot reports whether the ACL is the root policy's.
func (a *ACL) IsRoot() bool { return a.root }

// ValidUntil is the earliest expiration among the stanzas compiled in; zero when none expires.
// Recompile the ACL after it: until then Check refuses everything.
func (a *ACL) ValidUntil() time.Time { return a.validUntil }

// lookup finds the rule that governs path for op, with OpenBao's order: an exact pattern wins;
// then the highest-priority glob or "+" pattern; a list or scan also tries the path without its
// trailing "/".
func (a *ACL) lookup(op Operation, path string) *rule {
	if r, ok := a.exact[path]; ok {
		return r
	}
	listing := op == OpList || op == OpScan
	trimmed, slash := strings.CutSuffix(path, "/")
	if listing && slash {
		if r, ok := a.exact[trimmed]; ok {
			return r
		}
	}
	if r := a.nonExact(path); r != nil {
		return r
	}
	if listing && slash {
		return a.nonExact(trimmed)
	}
	return nil
}

// candidate is a matching glob or "+" pattern, ranked by OpenBao's priority rules.
type candidate struct {
	firstWC   int
	prefix    bool
	wildcards int
	path      string
	r         *rule
}

// lower reports whether c has lower priority than d, by OpenBao's documented rules in order:
// the first wildcard or glob comes earlier; c ends in "*" and d does not; c has more "+"
// segments; c is shorter; c is smaller lexicographically.
func (c *candidate) lower(d *candidate) bool {
	if c.firstWC != d.firstWC {
		return c.firstWC < d.firstWC
	}
	if c.prefix != d.prefix {
		return c.prefix
	}
	if c.wildcards != d.wildcards {
		return c.wildcards > d.wildcards
	}
	if len(c.path) != len(d.path) {
		return len(c.path) < len(d.path)
	}
	return c.path < d.path
}

// nonExact returns the highest-priority glob or "+" rule matching path, or nil.
func (a *ACL) nonExact(path string) *rule {
	var best candidate
	if a.prefix != nil {
		if r, n, ok := a.prefix.longest(path); ok {
			best = candidate{firstWC: n, prefix: true, path: path[:n], r: r}
		}
	}
	if a.wild == nil {
		return best.r
	}
	a.wild.walk(&a.wild.root, path, &best)
	return best.r
}
