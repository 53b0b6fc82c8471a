package state

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/wal"
)

// TestRefusalsKeepTheirCause checks that a refusal wraps both the state's sentinel (callers
// branch on it) and the cause it reports (a caller or a log may need the lower package's
// error, not just its text).
func TestRefusalsKeepTheirCause(t *testing.T) {
	var refused *fsm.RefusedError
	var badJSON *json.UnmarshalTypeError
	var badTime *time.ParseError
	tests := []struct {
		name    string
		typ     command.Type
		payload any
		want    error
		cause   func(error) bool
	}{
		{"refused transition", TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventStarted},
			ErrConflict, func(err error) bool { return errors.As(err, &refused) }},
		{"unknown event", TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: "explode"},
			ErrInvalid, func(err error) bool { return errors.Is(err, fsm.ErrUnknownEvent) }},
		{"catalog delete missing", TypeCatalogDelete, CatalogDelete{Type: string(catalog.TypeDatabase), Name: "nope"},
			ErrNotFound, func(err error) bool { return errors.Is(err, catalog.ErrNotFound) }},
		{"rollback unknown wal", TypeRollbackStart, RollbackStart{WALID: "nope"},
			ErrNotFound, func(err error) bool { return errors.Is(err, wal.ErrNotFound) }},
		{"payload of the wrong shape", TypeMountPut, "not an object",
			ErrInvalid, func(err error) bool { return errors.As(err, &badJSON) }},
		{"lease renew with a bad expiry", TypeLeaseRenew, LeaseRenew{ID: "database/creds/ro/l1", Expires: "tomorrow"},
			ErrInvalid, func(err error) bool { return errors.As(err, &badTime) }},
		{"batch of the wrong shape", TypeBatch, "not an object",
			ErrInvalid, func(err error) bool { return errors.As(err, &badJSON) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base(t)
			a.must(TypeRolePut, RolePut{Role: Role{Mount: "database", Name: "ro", DBName: "db1"}})
			a.must(TypeLeasePut, LeasePut{Lease: Lease{ID: "database/creds/ro/l1", Mount: "database/", Role: "ro"}})
			_, err := a.apply(tt.typ, tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !tt.cause(err) {
				t.Fatalf("err = %v: its cause is not in the chain", err)
			}
		})
	}
}

// TestConnToUnregisteredPluginIsInvalidNotNotFound pins a deliberate exception: the catalog's
// not-found is the reason a connection is invalid, and wrapping it would let an HTTP edge that
// checks not-found first answer 404 for a bad request.
func TestConnToUnregisteredPluginIsInvalidNotNotFound(t *testing.T) {
	a := base(t)
	_, err := a.apply(TypeConnPut, ConnPut{Connection: Connection{Mount: "database", Name: "x", PluginName: "mysql", Config: []byte("c")}})
	if !errors.Is(err, ErrInvalid) || errors.Is(err, catalog.ErrNotFound) || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrInvalid and no not-found in the chain", err)
	}
}
