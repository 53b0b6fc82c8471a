package database

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/baton-hq/baton/raftstore/state"
)

// MaxNameLength bounds connection, role and static role names, in bytes. Names end up in
// usernames, lease ids, log lines and API paths; none of them needs more.
const MaxNameLength = 128

// MaxMountPathLength bounds a mount path, in bytes, trailing slash included.
const MaxMountPathLength = 512

// CheckName refuses a connection, role or static role name that OpenBao's path patterns would
// not match: empty, too long, not UTF-8, holding a '/', a control character (NUL among them,
// which PostgreSQL refuses far later with an opaque error) or a bidirectional formatting
// character (which makes a name read differently from what it is), or "." / "..".
// what names the kind of name in the error ("role", "connection").
func CheckName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s name is empty", ErrInvalid, what)
	case len(name) > MaxNameLength:
		return fmt.Errorf("%w: %s name is %d bytes long: use at most %d", ErrInvalid, what, len(name), MaxNameLength)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %s name %q is not allowed", ErrInvalid, what, name)
	case strings.Contains(name, "/"):
		return fmt.Errorf("%w: %s name %q must have no '/'", ErrInvalid, what, name)
	}
	return checkRunes(what+" name", name)
}

// CheckMountPath refuses a mount path that is empty, too long, has a "." or ".." segment or
// an empty one inside it, or holds a control or bidirectional formatting character.
func CheckMountPath(path string) error {
	p := state.NormalizeMount(path)
	if p == "/" {
		return fmt.Errorf("%w: mount path is empty", ErrInvalid)
	}
	if len(p) > MaxMountPathLength {
		return fmt.Errorf("%w: mount path is %d bytes long: use at most %d", ErrInvalid, len(p), MaxMountPathLength)
	}
	if err := checkRunes("mount path", p); err != nil {
		return err
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: mount path %q has an empty segment", ErrInvalid, p)
		case ".", "..":
			return fmt.Errorf("%w: mount path %q has a %q segment", ErrInvalid, p, seg)
		}
	}
	return nil
}

// checkRunes refuses invalid UTF-8, control characters and bidirectional formatting
// characters. The error quotes the rune's code point, never the whole raw value.
func checkRunes(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	for i, r := range s {
		if unicode.IsControl(r) || isBidi(r) {
			return fmt.Errorf("%w: %s holds the control or bidirectional character %U at byte %d", ErrInvalid, what, r, i)
		}
	}
	return nil
}

// isBidi tells whether r is a bidirectional formatting character (Unicode's Bidi_Control
// property: ALM, LRM, RLM, the embeddings, overrides and isolates).
func isBidi(r rune) bool {
	return unicode.Is(unicode.Bidi_Control, r)
}
