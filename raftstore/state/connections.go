package state

import (
	"fmt"
	"slices"
	"strings"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/wal"
)

// connectionHandlers change the connections of database mounts, each with its two lifecycle
// machines (connection and plugin instance), and the roles and static roles that use them.
var connectionHandlers = map[command.Type]handler{
	TypeConnPut:          on((*txn).connPut),
	TypeConnDelete:       on((*txn).connDelete),
	TypeConnReset:        on((*txn).connReset),
	TypeRolePut:          on((*txn).rolePut),
	TypeRoleDelete:       on((*txn).roleDelete),
	TypeStaticRolePut:    on((*txn).staticRolePut),
	TypeStaticRoleDelete: on((*txn).staticRoleDelete),
}

func (t *txn) connPut(p ConnPut) error {
	c := p.Connection
	c.Mount = NormalizeMount(c.Mount)
	if err := t.dbMount(c.Mount); err != nil {
		return err
	}
	if c.Name == "" || strings.Contains(c.Name, "/") {
		return fmt.Errorf("%w: connection name %q must be non-empty and have no '/'", ErrInvalid, c.Name)
	}
	if c.PluginName == "" {
		return fmt.Errorf("%w: plugin_name is required", ErrInvalid)
	}
	if _, err := t.d.Catalog.Get(string(catalog.TypeDatabase), c.PluginName, c.PluginVersion); err != nil {
		// %v, not %w: a missing catalog entry makes the connection invalid, not itself missing.
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(c.Config) == 0 {
		return fmt.Errorf("%w: connection config is empty", ErrInvalid)
	}
	key := Key(c.Mount, c.Name)
	old, exists := t.d.Connections[key]
	c.Updated = t.c.Time
	if exists {
		c.Generation = old.Generation + 1
		if err := t.fireConn(key, fsm.EventUpdate, "config written"); err != nil {
			return err
		}
	} else {
		c.Generation = 1
		if err := t.addMachine(fsm.KindConnection, key); err != nil {
			return err
		}
		if err := t.addMachine(fsm.KindPlugin, key); err != nil {
			return err
		}
	}
	t.d.Connections[key] = c
	t.undo = append(t.undo, func() {
		if exists {
			t.d.Connections[key] = old
		} else {
			delete(t.d.Connections, key)
		}
	})
	return nil
}

func (t *txn) connDelete(p ConnRef) error {
	return t.deleteConn(Key(p.Mount, p.Name))
}

func (t *txn) connReset(p ConnRef) error {
	key := Key(p.Mount, p.Name)
	if _, ok := t.d.Connections[key]; !ok {
		return fmt.Errorf("%w: connection %q", ErrNotFound, key)
	}
	return t.fireConn(key, fsm.EventReset, "reset")
}

// deleteConn deletes the connection at key with its machines and its root rotation's WAL
// entry; deleting a connection and deleting a mount both go through it.
func (t *txn) deleteConn(key string) error {
	c, ok := t.d.Connections[key]
	if !ok {
		return fmt.Errorf("%w: connection %q", ErrNotFound, key)
	}
	if err := t.fireConn(key, fsm.EventDelete, "connection deleted"); err != nil {
		return err
	}
	delete(t.d.Connections, key)
	t.undo = append(t.undo, func() { t.d.Connections[key] = c })
	t.dropMachine(fsm.KindConnection, key)
	t.dropMachine(fsm.KindPlugin, key)
	// A root rotation of the connection still in the WAL goes with it: its rollback would find
	// no connection and only delete the entry, and left there it is taken for a rotation of
	// the connection created next under the same name, whose machine refuses its rollback
	// events for ever (found by the state package's property test).
	for _, e := range t.d.WAL.List() {
		if e.Kind == wal.KindRootRotation && e.Target == key {
			t.d.WAL.Delete(e.ID)
			t.undo = append(t.undo, func() { t.d.WAL.Entries[e.ID] = e })
		}
	}
	return nil
}

// checkConnRef checks that a role may use the connection it names.
func (t *txn) checkConnRef(mount, dbName, role string) error {
	if err := t.dbMount(mount); err != nil {
		return err
	}
	if dbName == "" {
		return fmt.Errorf("%w: db_name is required", ErrInvalid)
	}
	c, ok := t.d.Connections[Key(mount, dbName)]
	if !ok {
		return fmt.Errorf("%w: db_name %q: no such connection on %s", ErrInvalid, dbName, mount)
	}
	if !RoleAllowed(c.AllowedRoles, role) {
		return fmt.Errorf("%w: role %q is not allowed on connection %q (allowed_roles: %s)", ErrInvalid, role, dbName, strings.Join(c.AllowedRoles, ","))
	}
	return nil
}

// RoleAllowed applies a connection's allowed_roles: an exact name, or "*" for any.
func RoleAllowed(allowed []string, role string) bool {
	return slices.Contains(allowed, "*") || slices.Contains(allowed, role)
}

func (t *txn) rolePut(p RolePut) error {
	r := p.Role
	r.Mount = NormalizeMount(r.Mount)
	if r.Name == "" || strings.Contains(r.Name, "/") {
		return fmt.Errorf("%w: role name %q must be non-empty and have no '/'", ErrInvalid, r.Name)
	}
	if err := t.checkConnRef(r.Mount, r.DBName, r.Name); err != nil {
		return err
	}
	if r.MaxTTL > 0 && r.DefaultTTL > r.MaxTTL {
		return fmt.Errorf("%w: default_ttl %s is longer than max_ttl %s", ErrInvalid, r.DefaultTTL, r.MaxTTL)
	}
	t.d.Roles[Key(r.Mount, r.Name)] = r
	return nil
}

func (t *txn) roleDelete(p RoleRef) error {
	return deleteRef(t, t.d.Roles, "role", p)
}

func (t *txn) staticRolePut(p StaticRolePut) error {
	r := p.Role
	r.Mount = NormalizeMount(r.Mount)
	if err := t.checkConnRef(r.Mount, r.DBName, r.Name); err != nil {
		return err
	}
	if r.Username == "" {
		return fmt.Errorf("%w: username is required for a static role", ErrInvalid)
	}
	t.d.StaticRoles[Key(r.Mount, r.Name)] = r
	return nil
}

func (t *txn) staticRoleDelete(p RoleRef) error {
	return deleteRef(t, t.d.StaticRoles, "static role", p)
}

// deleteRef deletes the role (of either kind) a RoleRef command names.
func deleteRef[V any](t *txn, m map[string]V, what string, p RoleRef) error {
	key := Key(p.Mount, p.Name)
	if _, ok := m[key]; !ok {
		return fmt.Errorf("%w: %s %q", ErrNotFound, what, key)
	}
	delete(m, key)
	return nil
}
