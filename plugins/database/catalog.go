package database

import (
	"context"
	"errors"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/state"
)

// verifyError is a plugin that failed verification: a bad request (state.ErrInvalid) whose
// message is the verifier's own, unprefixed.
type verifyError struct{ err error }

func (v *verifyError) Error() string   { return v.err.Error() }
func (v *verifyError) Unwrap() []error { return []error{state.ErrInvalid, v.err} }

// RegisterPlugin registers a plugin in the catalog (sys/plugins/catalog/:type/:name): on the
// active node only (verifying runs the plugin, and a resumed, deposed leader must not start
// a process for a request it took before it froze), the binary is verified against its
// SHA-256 and asked for its metadata, the env is sealed with the barrier (openEntry opens it
// for a spawn), and the entry is committed.
func (e *Engine) RegisterPlugin(ctx context.Context, entry catalog.Entry) error {
	if err := e.cluster.VerifyActive(ctx); err != nil {
		return err
	}
	verified, err := e.rt.VerifyEntry(ctx, entry)
	if err != nil {
		return &verifyError{err: err}
	}
	if verified, err = e.rt.SealEntry(verified); err != nil {
		return err
	}
	_, err = e.cluster.Propose(ctx, state.TypeCatalogPut, "", APISource.From, state.CatalogPut{Entry: verified})
	return err
}

// DeletePlugin removes a catalog entry; a missing entry is not an error (OpenBao's API
// treats it as success).
func (e *Engine) DeletePlugin(ctx context.Context, typ, name, version string) error {
	_, err := e.cluster.Propose(ctx, state.TypeCatalogDelete, "", APISource.From, state.CatalogDelete{Type: typ, Name: name, Version: version})
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	return nil
}

// CatalogListing is the whole catalog at one moment: the names by type (every type present,
// empty when none) and every entry.
type CatalogListing struct {
	Names   map[catalog.Type][]string
	Entries []catalog.Entry
}

// ListPlugins reads the whole catalog from this node's state.
func (e *Engine) ListPlugins() CatalogListing {
	l := CatalogListing{Names: map[catalog.Type][]string{}}
	e.cluster.State().View(func(d *state.Data) {
		for _, t := range []catalog.Type{catalog.TypeAuth, catalog.TypeDatabase, catalog.TypeSecret} {
			l.Names[t] = d.Catalog.List(string(t))
		}
		l.Entries = d.Catalog.All()
	})
	return l
}

// ListPluginsOfType lists the names of the catalog's plugins of one type.
func (e *Engine) ListPluginsOfType(typ string) []string {
	var names []string
	e.cluster.State().View(func(d *state.Data) { names = d.Catalog.List(typ) })
	return names
}

// ReadPlugin reads one catalog entry (version "" for the newest).
func (e *Engine) ReadPlugin(typ, name, version string) (catalog.Entry, error) {
	var entry catalog.Entry
	var err error
	e.cluster.State().View(func(d *state.Data) { entry, err = d.Catalog.Get(typ, name, version) })
	return entry, err
}
