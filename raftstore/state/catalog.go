package state

import (
	"errors"
	"fmt"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/command"
)

// catalogHandlers change the plugin catalog.
var catalogHandlers = map[command.Type]handler{
	TypeCatalogPut:    on((*txn).catalogPut),
	TypeCatalogDelete: on((*txn).catalogDelete),
}

func (t *txn) catalogPut(p CatalogPut) error {
	if len(p.Entry.Env) > 0 {
		// Invariant 7: the catalog env may hold secrets; the active node seals it first.
		return fmt.Errorf("%w: catalog env must be sealed before it is proposed", ErrInvalid)
	}
	if err := t.d.Catalog.Put(p.Entry); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func (t *txn) catalogDelete(p CatalogDelete) error {
	e, err := t.d.Catalog.Get(p.Type, p.Name, p.Version)
	if err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// Without a version, the entry Get picks is deleted when it is unversioned or was
	// registered without one (the plugin named its own version: OpenBao's client sends an
	// empty version to deregister it); any other versioned entry must be named.
	if p.Version == "" && e.Version != "" && (e.Builtin || !e.SelfVersioned) {
		return fmt.Errorf("%w: %s plugin %q has versions; name the version to delete", ErrInvalid, p.Type, p.Name)
	}
	if err := t.d.Catalog.Delete(p.Type, p.Name, e.Version); err != nil {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return nil
}
