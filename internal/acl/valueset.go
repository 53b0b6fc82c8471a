package acl

import "strings"

// valueSet is a compiled parameter value list: literal strings in a map, so that a list merged
// from many policies costs one lookup, and OpenBao's globbed strings, booleans and numbers
// beside them.
type valueSet struct {
	any   bool // the list was empty: every value
	strs  map[string]struct{}
	globs []string
	bools [2]bool // [false, true]
	nums  map[float64]struct{}
}

// newValueSet compiles a value list.
func newValueSet(list []any) *valueSet {
	s := &valueSet{any: len(list) == 0}
	for _, p := range list {
		switch v := p.(type) {
		case string:
			if len(v) >= 2 && (strings.HasPrefix(v, "*") || strings.HasSuffix(v, "*")) {
				s.globs = append(s.globs, v)
				continue
			}
			if s.strs == nil {
				s.strs = map[string]struct{}{}
			}
			s.strs[v] = struct{}{}
		case bool:
			if v {
				s.bools[1] = true
			} else {
				s.bools[0] = true
			}
		case float64:
			if s.nums == nil {
				s.nums = map[float64]struct{}{}
			}
			s.nums[v] = struct{}{}
		}
	}
	return s
}

// compileSets compiles every list of a parameter map.
func compileSets(m map[string][]any) map[string]*valueSet {
	if m == nil {
		return nil
	}
	out := make(map[string]*valueSet, len(m))
	for k, v := range m {
		out[k] = newValueSet(v)
	}
	return out
}

// has reports whether the scalar v is in the set, with valueMatches's rules.
func (s *valueSet) has(v any) bool {
	switch x := v.(type) {
	case string:
		if _, ok := s.strs[x]; ok {
			return true
		}
		for _, g := range s.globs {
			if globMatch(g, x) {
				return true
			}
		}
		return false
	case bool:
		if x {
			return s.bools[1]
		}
		return s.bools[0]
	}
	if f, ok := number(v); ok {
		_, ok := s.nums[f]
		return ok
	}
	return false
}
