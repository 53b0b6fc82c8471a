package state

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
)

// lifecycleHandlers fire lifecycle events the node records directly: one event on one machine
// (the runtime's starts, crashes and stops), one event on every machine of a kind that takes
// it (step-down, seal, shutdown, failover) and reloads of plugin instances.
var lifecycleHandlers = map[command.Type]handler{
	TypeLifecycleFire: on((*txn).lifecycleFire),
	TypeLifecycleAll:  on((*txn).lifecycleBroadcast),
	TypePluginReload:  on((*txn).pluginReload),
}

func (t *txn) lifecycleFire(p LifecycleFire) error {
	return t.fire(p.Kind, p.ID, p.Event, p.Reason)
}

func (t *txn) lifecycleBroadcast(p LifecycleBroadcast) error {
	if fsm.Events(p.Kind) == nil {
		return fmt.Errorf("%w: unknown lifecycle kind %q", ErrInvalid, p.Kind)
	}
	if !slices.Contains(fsm.Events(p.Kind), p.Event) {
		return fmt.Errorf("%w: %s is not an event of %s machines (they take %s)", ErrInvalid, p.Event, p.Kind, joinEvents(fsm.Events(p.Kind)))
	}
	prefix := string(p.Kind) + ":"
	keys := make([]string, 0, len(t.d.Machines))
	for k := range t.d.Machines {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // map order is random; Apply must not be
	for _, k := range keys {
		m := t.d.Machines[k]
		if !m.Can(p.Event) {
			continue
		}
		if err := t.fire(p.Kind, m.ID(), p.Event, p.Reason); err != nil {
			return err
		}
	}
	return nil
}

func joinEvents(evs []fsm.Event) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func (t *txn) pluginReload(p PluginReload) error {
	if p.PluginName == "" && p.Mount == "" {
		return fmt.Errorf("%w: reload needs a plugin name or a mount", ErrInvalid)
	}
	mount := ""
	if p.Mount != "" {
		mount = NormalizeMount(p.Mount)
		if _, ok := t.d.Mounts[mount]; !ok {
			return fmt.Errorf("%w: no mount at %s", ErrNotFound, mount)
		}
	}
	if p.PluginName != "" && !t.d.CatalogHasName(p.PluginName) {
		// OpenBao refuses the same since 2.6 (GH-2398): a typo must not look like a reload.
		return fmt.Errorf("%w: no plugin %q in the catalog", ErrNotFound, p.PluginName)
	}
	keys := make([]string, 0)
	for k, c := range t.d.Connections {
		if (p.PluginName == "" || c.PluginName == p.PluginName) && (mount == "" || c.Mount == mount) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := t.d.Machines[MachineKey(fsm.KindPlugin, k)]; ok {
			if err := t.fire(fsm.KindPlugin, k, fsm.EventReload, "reload"); err != nil {
				return err
			}
		}
	}
	if p.ReloadID != "" {
		// Last, so that a refused reload records nothing.
		t.recordReload(p.ReloadID)
	}
	return nil
}

// recordReload remembers a reload id with the command's time, forgetting the oldest past
// MaxReloads so every node keeps the same ones.
func (t *txn) recordReload(id string) {
	if t.d.Reloads == nil {
		t.d.Reloads = map[string]Reload{}
	}
	if _, ok := t.d.Reloads[id]; !ok {
		t.d.ReloadLog = append(t.d.ReloadLog, id)
	}
	t.d.Reloads[id] = Reload{Time: t.c.Time.UTC(), Index: t.index}
	if over := len(t.d.ReloadLog) - MaxReloads; over > 0 {
		for _, old := range t.d.ReloadLog[:over] {
			delete(t.d.Reloads, old)
		}
		t.d.ReloadLog = slices.Clone(t.d.ReloadLog[over:])
	}
}

// CatalogHasName tells whether any catalog entry, of any type and version, has the name: what a
// reload by plugin name requires.
func (d *Data) CatalogHasName(name string) bool {
	for _, e := range d.Catalog.All() {
		if e.Name == name {
			return true
		}
	}
	return false
}
