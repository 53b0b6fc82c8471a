package catalog

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
)

// key identifies one stored entry: a built-in and an external entry may share a type, name
// and version.
type key struct {
	typ     Type
	name    string
	version string
	builtin bool
}

// Catalog is the in-memory plugin catalog kept inside the replicated state. It holds several
// versions per type and name; an external entry shadows a built-in one of the same type and
// name. It does no I/O, its encoding is deterministic, and it is not safe for concurrent use:
// the replicated state serialises access to it. The zero value is an empty catalog.
type Catalog struct {
	entries map[key]Entry
}

// Put checks the entry's static rules (see Entry.Canonical) and stores its canonical form,
// replacing an entry of the same type, name, version and origin.
func (c *Catalog) Put(e Entry) error {
	e, err := e.Canonical()
	if err != nil {
		return err
	}
	if c.entries == nil {
		c.entries = make(map[key]Entry)
	}
	c.entries[keyOf(e)] = e
	return nil
}

// Get returns the entry a mount or connection runs. With a version, it is that exact
// (canonical) version, the external entry first. Without one, it is the unversioned entry if
// one exists, else the highest version, taken from the external entries when there are any
// (they shadow built-ins) and from the built-in ones otherwise.
func (c *Catalog) Get(typ, name, version string) (Entry, error) {
	t, err := ParseType(typ)
	if err != nil {
		return Entry{}, err
	}
	if version != "" {
		v, err := CanonicalVersion(version)
		if err != nil {
			return Entry{}, err
		}
		for _, builtin := range []bool{false, true} {
			if e, ok := c.entries[key{t, name, v, builtin}]; ok {
				return cloneEntry(e), nil
			}
		}
		return Entry{}, fmt.Errorf("%w: %s plugin %q version %q", ErrNotFound, t, name, v)
	}
	all := c.Versions(typ, name)
	if len(all) == 0 {
		return Entry{}, fmt.Errorf("%w: %s plugin %q", ErrNotFound, t, name)
	}
	for _, builtin := range []bool{false, true} {
		var pick *Entry
		for i := range all {
			e := &all[i]
			if e.Builtin != builtin {
				continue
			}
			if e.Version == "" {
				pick = e
				break
			}
			pick = e // sorted ascending: the last one seen is the highest
		}
		if pick != nil {
			return *pick, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: %s plugin %q", ErrNotFound, t, name)
}

// Delete removes an external entry. Built-in entries cannot be deleted (ErrInvalid); a missing
// entry yields ErrNotFound, which OpenBao's API treats as success.
func (c *Catalog) Delete(typ, name, version string) error {
	t, err := ParseType(typ)
	if err != nil {
		return err
	}
	v, err := CanonicalVersion(version)
	if err != nil {
		return err
	}
	k := key{t, name, v, false}
	if _, ok := c.entries[k]; ok {
		delete(c.entries, k)
		return nil
	}
	k.builtin = true
	if _, ok := c.entries[k]; ok {
		return fmt.Errorf("%w: %s plugin %q version %q is built in and cannot be deleted: register an external plugin of that name to shadow it", ErrInvalid, t, name, v)
	}
	return fmt.Errorf("%w: %s plugin %q version %q", ErrNotFound, t, name, v)
}

// List returns the sorted, distinct names registered for a type (nil for an unknown type).
func (c *Catalog) List(typ string) []string {
	t, err := ParseType(typ)
	if err != nil {
		return nil
	}
	var names []string
	for k := range c.entries {
		if k.typ == t {
			names = append(names, k.name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Versions returns every entry of a type and name: unversioned first, then by ascending
// version, an external entry before a built-in one of the same version.
func (c *Catalog) Versions(typ, name string) []Entry {
	t, err := ParseType(typ)
	if err != nil {
		return nil
	}
	var out []Entry
	for k, e := range c.entries {
		if k.typ == t && k.name == name {
			out = append(out, cloneEntry(e))
		}
	}
	slices.SortFunc(out, compareEntries)
	return out
}

// All returns every entry, sorted by type, name and version.
func (c *Catalog) All() []Entry {
	out := make([]Entry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, cloneEntry(e))
	}
	slices.SortFunc(out, compareEntries)
	return out
}

// Len counts the stored entries.
func (c *Catalog) Len() int { return len(c.entries) }

// Clone returns an independent copy, for snapshots taken while Apply goes on.
func (c *Catalog) Clone() *Catalog {
	out := &Catalog{entries: make(map[key]Entry, len(c.entries))}
	for k, e := range c.entries {
		out.entries[k] = cloneEntry(e)
	}
	return out
}

// MarshalJSON encodes the catalog as the sorted list of its entries, so that every node
// writes the same bytes.
func (c Catalog) MarshalJSON() ([]byte, error) {
	return json.Marshal(c.All())
}

// UnmarshalJSON replaces the catalog with the encoded entries, checking each again.
func (c *Catalog) UnmarshalJSON(b []byte) error {
	var entries []Entry
	if err := json.Unmarshal(b, &entries); err != nil {
		return fmt.Errorf("decode plugin catalog: %w", err)
	}
	next := Catalog{}
	for i, e := range entries {
		if err := next.Put(e); err != nil {
			return fmt.Errorf("decode plugin catalog entry %d: %w", i, err)
		}
	}
	*c = next
	return nil
}

func keyOf(e Entry) key { return key{e.Type, e.Name, e.Version, e.Builtin} }

func compareEntries(a, b Entry) int {
	if c := cmp.Compare(a.Type, b.Type); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := compareCanonical(a.Version, b.Version); c != 0 {
		return c
	}
	switch {
	case a.Builtin == b.Builtin:
		return 0
	case b.Builtin:
		return -1
	default:
		return 1
	}
}

func cloneEntry(e Entry) Entry {
	e.Args = slices.Clone(e.Args)
	e.Env = slices.Clone(e.Env)
	e.SealedEnv = slices.Clone(e.SealedEnv)
	return e
}
