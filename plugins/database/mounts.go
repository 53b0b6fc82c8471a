package database

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/baton-hq/baton/raftstore/state"
)

// The state's value types and sentinel errors the engine's callers see, named here so that
// a caller (the HTTP API) needs no import of the state package.
type (
	// Mount is a mounted secrets engine.
	Mount = state.Mount
	// Role is a dynamic role.
	Role = state.Role
	// StaticRole is a static role.
	StaticRole = state.StaticRole
	// Lease is an issued credential's lease.
	Lease = state.Lease
	// Reload is a recorded plugin reload.
	Reload = state.Reload
)

// Sentinel errors of the engine's operations (the state's own, which the state enforces).
var (
	// ErrNotFound: no such mount, connection, role, lease or plugin.
	ErrNotFound = state.ErrNotFound
	// ErrInvalid: the request is malformed or breaks a rule of the state.
	ErrInvalid = state.ErrInvalid
	// ErrExists: the thing already exists.
	ErrExists = state.ErrExists
	// ErrConflict: the request conflicts with the current state (e.g. a rotation in progress).
	ErrConflict = state.ErrConflict
)

// NormalizeMount is a mount path in its stored form ("database/").
func NormalizeMount(path string) string { return state.NormalizeMount(path) }

// EnableMount mounts a secrets engine (sys/mounts/:path); the path is normalised.
func (e *Engine) EnableMount(ctx context.Context, m Mount) error {
	if err := CheckMountPath(m.Path); err != nil {
		return err
	}
	m.Path = state.NormalizeMount(m.Path)
	if m.DefaultLeaseTTL < 0 || m.MaxLeaseTTL < 0 {
		return invalid("a lease TTL cannot be negative")
	}
	if maxTTL := e.mountTTLs(m).EffectiveMax; m.DefaultLeaseTTL > maxTTL {
		return invalid("default_lease_ttl %s would be greater than the max lease TTL %s: lower it or raise max_lease_ttl", m.DefaultLeaseTTL, maxTTL)
	}
	m.Accessor = newAccessor(m.Type)
	_, err := e.cluster.Propose(ctx, state.TypeMountPut, "", APISource.From, state.MountPut{Mount: m})
	return err
}

// newAccessor makes a mount accessor as OpenBao's look: the type, "_", 8 random hex digits.
// It is drawn here, before the proposal, so that every node stores the same one.
func newAccessor(typ string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	return typ + "_" + hex.EncodeToString(b)
}

// Mounts lists the mounts by path.
func (e *Engine) Mounts() map[string]Mount {
	out := map[string]Mount{}
	e.cluster.State().View(func(d *state.Data) {
		for p, m := range d.Mounts {
			out[p] = m
		}
	})
	return out
}

// ReadMount reads the mount at a path (normalised).
func (e *Engine) ReadMount(path string) (Mount, bool) {
	var m Mount
	var ok bool
	path = state.NormalizeMount(path)
	e.cluster.State().View(func(d *state.Data) { m, ok = d.Mounts[path] })
	return m, ok
}

// FindMount splits a request path into the longest mount it lies under and the rest; the
// mount is "" when the path lies under none.
func (e *Engine) FindMount(p string) (mount, rest string) {
	e.cluster.State().View(func(d *state.Data) {
		for m := range d.Mounts {
			if strings.HasPrefix(p+"/", m) && len(m) > len(mount) {
				mount = m
			}
		}
	})
	if mount == "" {
		return "", ""
	}
	return mount, strings.TrimPrefix(strings.TrimPrefix(p, strings.TrimSuffix(mount, "/")), "/")
}

// PluginConnections lists the names of a mount's connections that use a plugin (what a
// reload of that plugin on that mount reaches).
func (e *Engine) PluginConnections(mount, pluginName string) []string {
	var conns []string
	e.cluster.State().View(func(d *state.Data) {
		for k, c := range d.Connections {
			if c.Mount == mount && c.PluginName == pluginName {
				conns = append(conns, strings.TrimPrefix(k, mount))
			}
		}
	})
	return conns
}
