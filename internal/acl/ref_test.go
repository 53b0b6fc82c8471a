package acl

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// This file is a reference: a plain transcription of OpenBao's documented matching (split the
// path, try every pattern, rank the matches), against which the compiled ACL is compared.

// match reports whether path matches the pattern, segment by segment: "+" matches any one
// segment; with a trailing "*", the last segment matches by prefix and any further segments
// are taken too; without, the number of segments must be equal.
func (w *wildRule) match(path string) bool {
	for i, part := range w.parts {
		seg, rest, more := strings.Cut(path, "/")
		last := i == len(w.parts)-1
		switch {
		case part == "+" || part == seg:
		case w.prefix && last && strings.HasPrefix(seg, part):
		default:
			return false
		}
		if last {
			return w.prefix || !more
		}
		if !more {
			return false
		}
		path = rest
	}
	return false
}

// allWild collects every "+" pattern in the trie.
func allWild(n *segNode, out []*wildRule) []*wildRule {
	if n == nil {
		return out
	}
	out = append(out, n.exact...)
	out = append(out, n.globs...)
	for _, c := range n.lits {
		out = allWild(c, out)
	}
	return allWild(n.plus, out)
}

// refNonExact is the reference for nonExact: the longest glob prefix, then every "+" pattern
// tried in turn.
func refNonExact(a *ACL, path string) *rule {
	var best candidate
	if a.prefix != nil {
		if r, n, ok := a.prefix.longest(path); ok {
			best = candidate{firstWC: n, prefix: true, path: path[:n], r: r}
		}
	}
	if a.wild == nil {
		return best.r
	}
	for _, w := range allWild(&a.wild.root, nil) {
		if w.match(path) {
			best.offer(w)
		}
	}
	return best.r
}

// TestTrieMatchesReference compares the segment trie with the reference on random patterns and
// paths drawn from a small alphabet, so that matches, near misses and ties are common.
func TestTrieMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "b", "ab", "+", "", "+a"}
	pathSegs := []string{"a", "b", "ab", "", "+a", "+"} // a "+" in a path is a literal
	pattern := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = segs[rng.IntN(len(segs))]
		}
		p := strings.Join(parts, "/")
		if rng.IntN(2) == 0 && !strings.HasSuffix(p, "+") {
			p += "*"
		}
		return p
	}
	path := func() string {
		n := 1 + rng.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = pathSegs[rng.IntN(len(pathSegs))]
		}
		return strings.Join(parts, "/")
	}
	for round := 0; round < 300; round++ {
		var b strings.Builder
		for i, n := 0, 1+rng.IntN(8); i < n; i++ {
			fmt.Fprintf(&b, "path %q {\n  capabilities = [%q]\n}\n", pattern(), []string{"read", "update", "list", "create"}[i%4])
		}
		p, err := Parse("r", []byte(b.String()))
		if err != nil {
			t.Fatalf("%s: %v", b.String(), err)
		}
		a, err := Compile(time.Now(), p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 30; i++ {
			q := path()
			if got, want := a.nonExact(q), refNonExact(a, q); got != want {
				t.Fatalf("policy:\n%s\npath %q: trie chose %+v, reference %+v", b.String(), q, got, want)
			}
		}
	}
}

// valueMatches is the reference for valueSet.has: it compares a policy value with a request value: strings by OpenBao's globbing
// ("foo-*", "*-bar", "*mid*"), booleans by equality, numbers numerically. Types must agree, as
// in OpenBao: "false" does not match false.
func valueMatches(p, v any) bool {
	switch pv := p.(type) {
	case string:
		s, ok := v.(string)
		return ok && globMatch(pv, s)
	case bool:
		b, ok := v.(bool)
		return ok && b == pv
	case float64:
		f, ok := number(v)
		return ok && f == pv
	}
	return false
}

// TestValueSetMatchesReference: a compiled value list answers as the list tried value by value.
func TestValueSetMatchesReference(t *testing.T) {
	lists := [][]any{
		{"zip", "zap"}, {"foo-*"}, {"*-prod", "x"}, {"*mid*"}, {"*"}, {"a", "*"},
		{false, "false"}, {true}, {float64(3), "3"}, {float64(0.5), false, "s*", "*e"},
	}
	values := []any{"zip", "zop", "foo-1", "foo", "db-prod", "a-mid-b", "mid", "*", "a", "x",
		false, true, "false", "true", 3, int64(3), float64(3), json.Number("3"), json.Number("x"),
		0.5, float32(0.5), "3", "se", "s", "e", nil, uint8(3)}
	for _, list := range lists {
		set := newValueSet(list)
		for _, v := range values {
			want := false
			for _, p := range list {
				want = want || valueMatches(p, v)
			}
			if got := set.has(v); got != want {
				t.Errorf("list %v value %#v: set says %v, reference %v", list, v, got, want)
			}
		}
	}
}
