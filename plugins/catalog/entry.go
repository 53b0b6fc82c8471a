// Package catalog holds Baton's plugin catalog and the rules an entry must meet before a
// plugin may run: its name, the SHA-256 of its binary, its semantic version, its environment,
// where its binary lives (inside the plugin directory, never through a symlink that leaves it)
// and, when asked for, who owns the binary and with which mode.
//
// The static rules (Entry.Canonical, the Catalog type) are pure so that the replicated state
// can apply them deterministically; the filesystem rules (Policy, ResolveCommand, CheckSHA256,
// CheckPermissions) run on the node that proposes a change or starts a process, never inside
// Apply. Nothing here starts a process.
package catalog

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNotFound is returned when no catalog entry matches a lookup.
var ErrNotFound = errors.New("plugin not found in the catalog")

// ErrInvalid is wrapped by every refusal of an entry or a lookup argument, so that the API can
// answer 400 without parsing messages.
var ErrInvalid = errors.New("invalid plugin catalog entry")

// Type is the kind of backend a plugin implements, spelled as in OpenBao's API paths.
type Type string

// Plugin types OpenBao's catalog knows. Baton runs database plugins; secret and auth entries
// are kept so that an OpenBao catalog can be carried over unchanged.
const (
	TypeDatabase Type = "database"
	TypeSecret   Type = "secret"
	TypeAuth     Type = "auth"
	// TypeUnknown is what OpenBao prints for a type it cannot parse; it is never stored.
	TypeUnknown Type = "unknown"
)

// ParseType checks a plugin type given by an operator.
func ParseType(s string) (Type, error) {
	switch t := Type(s); t {
	case TypeDatabase, TypeSecret, TypeAuth:
		return t, nil
	default:
		return "", fmt.Errorf("%w: type %q is not a plugin type: use database, secret or auth", ErrInvalid, s)
	}
}

// MaxNameLength bounds a plugin name; longer names are refused.
const MaxNameLength = 128

// Entry is one registered plugin binary. Its JSON field names are those of OpenBao's
// sys/plugins/catalog API.
type Entry struct {
	// Type is the backend kind the plugin implements.
	Type Type `json:"type"`
	// Name is how mounts and connections refer to the plugin.
	Name string `json:"name"`
	// Version is the canonical semantic version ("v1.2.3"), or empty for an unversioned entry.
	Version string `json:"version"`
	// SHA256 is the lower-case hex digest the binary must have every time it is run.
	SHA256 string `json:"sha256"`
	// Command is the binary's path relative to the plugin directory.
	Command string `json:"command"`
	// Args are passed to the binary.
	Args []string `json:"args"`
	// Env holds KEY=VALUE pairs given to the plugin; values may be secrets.
	Env []string `json:"env"`
	// Builtin marks an entry bundled with Baton rather than registered by an operator.
	Builtin bool `json:"builtin"`
	// SealedEnv is Env sealed by the active node's barrier (invariant 7: the catalog env may
	// hold secrets, so replicated state keeps only this, and Env stays empty there).
	SealedEnv []byte `json:"sealed_env,omitempty"`
	// SelfVersioned marks an entry registered without a version whose version is the one the
	// plugin reported: OpenBao's client deregisters it with an empty version, so a delete
	// without a version finds it (see the replicated state's catalog delete).
	SelfVersioned bool `json:"self_versioned,omitempty"`
}

// String describes the entry for logs and errors without the values of its environment,
// which may hold secrets.
func (e Entry) String() string {
	v := e.Version
	if v == "" {
		v = "unversioned"
	}
	kind := "external"
	if e.Builtin {
		kind = "builtin"
	}
	return fmt.Sprintf("%s plugin %q (%s, %s, command %q, env keys %v)", e.Type, e.Name, v, kind, e.Command, e.EnvKeys())
}

// GoString keeps %#v from printing environment values.
func (e Entry) GoString() string { return e.String() }

// EnvKeys lists the keys of the entry's environment, which are safe to show.
func (e Entry) EnvKeys() []string {
	keys := make([]string, 0, len(e.Env))
	for _, kv := range e.Env {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	return keys
}

// Canonical checks the rules that need no filesystem and returns the entry in the form the
// catalog stores: lower-case SHA-256, canonical version, clean command, non-nil slices (so that
// every node encodes it identically). Every refusal wraps ErrInvalid and says what to fix.
func (e Entry) Canonical() (Entry, error) {
	var err error
	if e.Type, err = ParseType(string(e.Type)); err != nil {
		return Entry{}, err
	}
	if err := ValidateName(e.Name); err != nil {
		return Entry{}, err
	}
	if e.Version, err = CanonicalVersion(e.Version); err != nil {
		return Entry{}, err
	}
	if e.SHA256 != "" || !e.Builtin {
		if e.SHA256, err = NormalizeSHA256(e.SHA256); err != nil {
			return Entry{}, err
		}
	}
	if e.Command != "" || !e.Builtin {
		if e.Command, err = cleanCommand(e.Command); err != nil {
			return Entry{}, err
		}
	}
	for i, a := range e.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return Entry{}, fmt.Errorf("%w: args[%d] holds a NUL byte: remove it", ErrInvalid, i)
		}
	}
	if err := ValidateEnv(e.Env); err != nil {
		return Entry{}, err
	}
	e.Args = cloneNonNil(e.Args)
	e.Env = cloneNonNil(e.Env)
	return e, nil
}

// ValidateName checks a plugin name: it is used in API paths and file names, so it is limited
// to letters, digits, '.', '_' and '-'.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: name is empty: give the plugin a name", ErrInvalid)
	case len(name) > MaxNameLength:
		return fmt.Errorf("%w: name %.32q... is %d characters long: use at most %d", ErrInvalid, name, len(name), MaxNameLength)
	case name == "." || name == "..":
		return fmt.Errorf("%w: name %q is not allowed: use letters, digits, '.', '_' or '-'", ErrInvalid, name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("%w: name %q holds %q: use only letters, digits, '.', '_' or '-'", ErrInvalid, name, r)
		}
	}
	return nil
}

// NormalizeSHA256 checks a hex SHA-256 digest and returns it in lower case.
func NormalizeSHA256(sum string) (string, error) {
	if len(sum) != 64 {
		return "", fmt.Errorf("%w: sha256 %.80q is %d characters long: give the 64 hex characters printed by sha256sum", ErrInvalid, sum, len(sum))
	}
	for i := 0; i < len(sum); i++ {
		c := sum[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", fmt.Errorf("%w: sha256 %q holds %q, which is not a hex digit: give the 64 hex characters printed by sha256sum", ErrInvalid, sum, c)
		}
	}
	return strings.ToLower(sum), nil
}

// ValidateEnv checks that every element is KEY=VALUE with a non-empty key. Refusals name the
// index and the key, never the value.
func ValidateEnv(env []string) error {
	for i, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			// The whole element may be a value pasted without its key: do not echo it.
			return fmt.Errorf("%w: env[%d] has no '=': write it as KEY=VALUE", ErrInvalid, i)
		case k == "":
			return fmt.Errorf("%w: env[%d] has an empty key: write it as KEY=VALUE", ErrInvalid, i)
		case strings.IndexByte(k, 0) >= 0:
			return fmt.Errorf("%w: env[%d] key holds a NUL byte: remove it", ErrInvalid, i)
		case strings.IndexByte(v, 0) >= 0:
			return fmt.Errorf("%w: env[%d] (key %q) value holds a NUL byte: remove it", ErrInvalid, i, k)
		}
	}
	return nil
}

// cleanCommand checks the part of a command that needs no filesystem: a path relative to the
// plugin directory that cannot climb out of it.
func cleanCommand(command string) (string, error) {
	switch {
	case command == "":
		return "", fmt.Errorf("%w: command is empty: give the binary's file name in the plugin directory", ErrInvalid)
	case strings.IndexByte(command, 0) >= 0:
		return "", fmt.Errorf("%w: command %q holds a NUL byte: remove it", ErrInvalid, command)
	case filepath.IsAbs(command):
		return "", fmt.Errorf("%w: command %q is an absolute path: give the file name relative to the plugin directory", ErrInvalid, command)
	}
	if slices.Contains(strings.Split(filepath.ToSlash(command), "/"), "..") {
		return "", fmt.Errorf("%w: command %q holds a '..' element: give the file name relative to the plugin directory", ErrInvalid, command)
	}
	clean := filepath.Clean(command)
	if clean == "." {
		return "", fmt.Errorf("%w: command %q names the plugin directory itself: give the binary's file name", ErrInvalid, command)
	}
	return clean, nil
}

func cloneNonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}
