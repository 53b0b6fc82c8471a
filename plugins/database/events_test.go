package database

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/raftstore/state"
)

// A conn_update event changes only the allowlisted settings; one that names anything that could
// redirect the stored root credential is refused by name before any plugin instance is opened
// with the new config, and nothing is committed.
func TestConnUpdateEventAllowlist(t *testing.T) {
	key := state.Key("database", "db1")
	stored := func(f *fixture) (c state.Connection, idx uint64) {
		f.c.State().View(func(d *state.Data) { c = d.Connections[key] })
		return c, f.c.State().Index()
	}
	refused := []struct {
		name   string
		params map[string]string
	}{
		{"connection_url", map[string]string{"connection_url": "postgres://{{username}}:{{password}}@127.0.0.1:1/x"}},
		{"host", map[string]string{"host": "127.0.0.1"}},
		{"port", map[string]string{"port": "1"}},
		{"username", map[string]string{"username": "other"}},
		{"password", map[string]string{"password": "not-sent"}},
		{"plugin_name", map[string]string{"plugin_name": "pg"}},
		{"root_rotation_statements", map[string]string{"root_rotation_statements": "ALTER USER x"}},
		{"unknown", map[string]string{"no_such_field": "1"}},
		{"allowed with a refused one", map[string]string{"max_open_connections": "3", "connection_url": "postgres://127.0.0.1:1/x"}},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			before, idx := stored(f)
			opens := f.srv.count(f.srv.opens, key)
			ev := events.Event{ID: "u-" + tt.name, Kind: events.KindConnUpdate, Target: events.Target{Type: events.TargetConnection, ID: "database/db1"}, Params: tt.params}
			_, err := f.rt.HandleEvent(context.Background(), ev)
			if !errors.Is(err, events.ErrRejected) || !errors.Is(err, state.ErrInvalid) {
				t.Fatalf("HandleEvent: %v, want a rejection", err)
			}
			after, idx2 := stored(f)
			if idx2 != idx || !reflect.DeepEqual(before, after) {
				t.Errorf("state changed: index %d → %d", idx, idx2)
			}
			if n := f.srv.count(f.srv.opens, key); n != opens {
				t.Errorf("plugin instance opened %d times after the refusal", n-opens)
			}
		})
	}

	t.Run("allowed", func(t *testing.T) {
		f := newFixture(t, true)
		_, idx := stored(f)
		ev := events.Event{ID: "u-ok", Kind: events.KindConnUpdate, Target: events.Target{Type: events.TargetConnection, ID: "database/db1"},
			Params: map[string]string{"allowed_roles": "ro, rw", "verify_connection": "false", "max_open_connections": "7"}}
		got, err := f.rt.HandleEvent(context.Background(), ev)
		if err != nil || got <= idx {
			t.Fatalf("HandleEvent = %d, %v; want a new index above %d", got, err, idx)
		}
		c, _ := stored(f)
		if !slices.Equal(c.AllowedRoles, []string{"ro", "rw"}) || c.VerifyConnection {
			t.Errorf("connection = roles %v verify %v; want [ro rw], false", c.AllowedRoles, c.VerifyConnection)
		}
		cfg, err := f.rt.OpenConfig(c.Config)
		if err != nil {
			t.Fatal(err)
		}
		if cfg["max_open_connections"] != "7" || cfg["password"] != rootPW || cfg["username"] != rootUser {
			t.Errorf("config: max_open_connections %v, root login kept: %v", cfg["max_open_connections"], cfg["username"] == rootUser && cfg["password"] == rootPW)
		}
	})

	t.Run("bad verify_connection", func(t *testing.T) {
		f := newFixture(t, true)
		ev := events.Event{ID: "u-bad", Kind: events.KindConnUpdate, Target: events.Target{Type: events.TargetConnection, ID: "database/db1"}, Params: map[string]string{"verify_connection": "maybe"}}
		if _, err := f.rt.HandleEvent(context.Background(), ev); !errors.Is(err, events.ErrRejected) {
			t.Errorf("HandleEvent: %v, want a rejection", err)
		}
	})
}
