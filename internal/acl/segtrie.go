package acl

import "strings"

// segTrie holds the patterns with "+" segments, one trie level per path segment: a literal
// segment is a map key, "+" its own child. A path is matched by walking its segments down both
// the literal and the "+" branch; every trie node is visited at most once per lookup, so the
// cost follows the patterns that could match, not the number of policies.
type segTrie struct {
	root segNode
}

type segNode struct {
	lits map[string]*segNode
	plus *segNode
	// exact are the patterns without a trailing "*" that end at this node.
	exact []*wildRule
	// globs are the patterns ending in "*" whose last, partial segment follows this node: they
	// match when the next path segment starts with it (any further segments are taken too).
	globs []*wildRule
}

// insert adds a pattern.
func (t *segTrie) insert(w *wildRule) {
	n := &t.root
	parts := w.parts
	if w.prefix {
		parts = parts[:len(parts)-1]
	}
	for _, part := range parts {
		if part == "+" {
			if n.plus == nil {
				n.plus = &segNode{}
			}
			n = n.plus
			continue
		}
		c, ok := n.lits[part]
		if !ok {
			if n.lits == nil {
				n.lits = map[string]*segNode{}
			}
			c = &segNode{}
			n.lits[part] = c
		}
		n = c
	}
	if w.prefix {
		n.globs = append(n.globs, w)
	} else {
		n.exact = append(n.exact, w)
	}
}

// walk offers every pattern matching path to best, keeping the highest-priority one.
func (t *segTrie) walk(n *segNode, path string, best *candidate) {
	seg, rest, more := strings.Cut(path, "/")
	for _, w := range n.globs {
		if strings.HasPrefix(seg, w.parts[len(w.parts)-1]) {
			best.offer(w)
		}
	}
	if !more {
		// seg is the last segment: patterns that end right after it match.
		if c := n.lits[seg]; c != nil {
			for _, w := range c.exact {
				best.offer(w)
			}
		}
		if n.plus != nil {
			for _, w := range n.plus.exact {
				best.offer(w)
			}
		}
		return
	}
	if c := n.lits[seg]; c != nil {
		t.walk(c, rest, best)
	}
	if n.plus != nil {
		t.walk(n.plus, rest, best)
	}
}

// offer makes w the best candidate when it outranks the current one.
func (c *candidate) offer(w *wildRule) {
	d := candidate{firstWC: w.firstWC, prefix: w.prefix, wildcards: w.wildcards, path: w.path, r: w.r}
	if c.r == nil || c.lower(&d) {
		*c = d
	}
}
