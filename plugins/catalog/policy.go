package catalog

import (
	"fmt"
)

// Policy holds a node's filesystem rules for plugin binaries: where they live and, when asked
// for, who owns them. The active node applies it before proposing a catalog change and before
// every exec; Apply never does (it reads files).
type Policy struct {
	// Dir is the plugin directory (plugin_directory in the config).
	Dir string
	// Permissions is the optional owner and mode check.
	Permissions PermissionPolicy
}

// NewPolicy builds a node's policy from its config, turning the permissions check on when
// EnvPermissionsCheck asks for it.
func NewPolicy(dir string, perm PermissionPolicy) (Policy, error) {
	on, err := PermissionCheckFromEnv()
	if err != nil {
		return Policy{}, err
	}
	perm.Enabled = perm.Enabled || on
	return Policy{Dir: dir, Permissions: perm}, nil
}

// Resolve returns the real path of an external entry's binary after checking its place, its
// owner and mode, and its SHA-256. A wrong sum is a *ChecksumMismatchError (also wrapped with
// ErrInvalid). Call it before every exec; the runner then execs the returned path.
func (p Policy) Resolve(e Entry) (string, error) {
	path, err := ResolveCommand(p.Dir, e.Command)
	if err != nil {
		return "", err
	}
	if err := p.Permissions.Check(p.Dir); err != nil {
		return "", err
	}
	if err := p.Permissions.Check(path); err != nil {
		return "", err
	}
	if err := CheckSHA256(path, e.SHA256); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrInvalid, e.Name, err)
	}
	return path, nil
}

// Validate checks an entry an operator registers and returns its canonical form: the static
// rules of Entry.Canonical, then, for an external entry, those of Resolve. Built-in entries
// are bundled with Baton and skip the filesystem rules.
func (p Policy) Validate(e Entry) (Entry, error) {
	c, err := e.Canonical()
	if err != nil {
		return Entry{}, err
	}
	if c.Builtin {
		return c, nil
	}
	if _, err := p.Resolve(c); err != nil {
		return Entry{}, err
	}
	return c, nil
}
