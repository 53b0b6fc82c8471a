package state

import (
	"fmt"
	"sort"
	"strings"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
)

// mountHandlers change the mounts. Deleting a mount takes everything under it: its
// connections with their machines, roles, static roles and leases.
var mountHandlers = map[command.Type]handler{
	TypeMountPut:     on((*txn).mountPut),
	TypeMountDelete:  on((*txn).mountDelete),
	TypeMountDisable: on((*txn).mountDisable),
	TypeMountTune:    on((*txn).mountTune),
}

func (t *txn) mountPut(p MountPut) error {
	m := p.Mount
	m.Path = NormalizeMount(m.Path)
	if m.Path == "/" || strings.HasPrefix(m.Path, "sys/") {
		return fmt.Errorf("%w: mount path %q is reserved", ErrInvalid, m.Path)
	}
	if m.Type != "database" {
		return fmt.Errorf("%w: unknown secrets engine type %q (Baton serves \"database\")", ErrInvalid, m.Type)
	}
	for existing, em := range t.d.Mounts {
		if strings.HasPrefix(existing, m.Path) || strings.HasPrefix(m.Path, existing) {
			return fmt.Errorf("%w: path is already in use at %s", ErrExists, existing)
		}
		if m.Accessor != "" && em.Accessor == m.Accessor {
			return fmt.Errorf("%w: accessor %q is already the mount %s's", ErrExists, m.Accessor, existing)
		}
	}
	m.Created = t.c.Time
	t.d.Mounts[m.Path] = m
	return nil
}

// mountTune applies sys/mounts/:path/tune.
func (t *txn) mountTune(p MountTune) error {
	path := NormalizeMount(p.Path)
	m, ok := t.d.Mounts[path]
	if !ok {
		return fmt.Errorf("%w: no mount at %s", ErrNotFound, path)
	}
	prev := m
	if p.DefaultLeaseTTL != nil {
		m.DefaultLeaseTTL = *p.DefaultLeaseTTL
	}
	if p.MaxLeaseTTL != nil {
		m.MaxLeaseTTL = *p.MaxLeaseTTL
	}
	if p.Description != nil {
		m.Description = *p.Description
	}
	if m.DefaultLeaseTTL < 0 || m.MaxLeaseTTL < 0 {
		return fmt.Errorf("%w: a lease TTL cannot be negative", ErrInvalid)
	}
	if m.MaxLeaseTTL > 0 && m.DefaultLeaseTTL > m.MaxLeaseTTL {
		return fmt.Errorf("%w: default_lease_ttl %s is longer than max_lease_ttl %s", ErrInvalid, m.DefaultLeaseTTL, m.MaxLeaseTTL)
	}
	t.d.Mounts[path] = m
	t.undo = append(t.undo, func() { t.d.Mounts[path] = prev })
	return nil
}

// mountDisable marks the mount as being disabled (the first step of disabling it; the node
// revokes its leases, then deletes it).
func (t *txn) mountDisable(p MountDelete) error {
	path := NormalizeMount(p.Path)
	m, ok := t.d.Mounts[path]
	if !ok {
		return fmt.Errorf("%w: no mount at %s", ErrNotFound, path)
	}
	m.Disabling = true
	t.d.Mounts[path] = m
	return nil
}

func (t *txn) mountDelete(p MountDelete) error {
	path := NormalizeMount(p.Path)
	m, ok := t.d.Mounts[path]
	if !ok {
		return fmt.Errorf("%w: no mount at %s", ErrNotFound, path)
	}
	keys := make([]string, 0)
	for k := range t.d.Connections {
		if strings.HasPrefix(k, path) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := t.d.Machines[MachineKey(fsm.KindPlugin, k)]; ok {
			if err := t.fire(fsm.KindPlugin, k, fsm.EventDisable, "mount "+path+" disabled"); err != nil {
				return err
			}
		}
		if err := t.deleteConn(k); err != nil {
			return err
		}
	}
	delete(t.d.Mounts, path)
	t.undo = append(t.undo, func() { t.d.Mounts[path] = m })
	for k, r := range t.d.Roles {
		if strings.HasPrefix(k, path) {
			delete(t.d.Roles, k)
			t.undo = append(t.undo, func() { t.d.Roles[k] = r })
		}
	}
	for k, r := range t.d.StaticRoles {
		if strings.HasPrefix(k, path) {
			delete(t.d.StaticRoles, k)
			t.undo = append(t.undo, func() { t.d.StaticRoles[k] = r })
		}
	}
	for k, l := range t.d.Leases {
		if l.Mount == path {
			delete(t.d.Leases, k)
			t.undo = append(t.undo, func() { t.d.Leases[k] = l })
		}
	}
	return nil
}

// dbMount checks that path is a database mount that may take new objects: the rule every
// connection, role and lease is checked against.
func (t *txn) dbMount(path string) error {
	m, ok := t.d.Mounts[path]
	if !ok {
		return fmt.Errorf("%w: no secrets engine is mounted at %s", ErrNotFound, path)
	}
	if m.Disabling {
		return fmt.Errorf("%w: the mount %s is being disabled", ErrConflict, path)
	}
	if m.Type != "database" {
		return fmt.Errorf("%w: %s is a %s mount, not database", ErrInvalid, path, m.Type)
	}
	return nil
}
