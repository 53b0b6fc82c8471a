package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/plugins"
	"github.com/baton-hq/baton/raftstore/state"
)

// TestRegister: an engine registers its handlers once; it cannot take over an event kind the
// runtime applies itself, and a runtime nobody registered with refuses to activate rather
// than run without rollback handlers. An event of a kind nobody handles is a rejection.
func TestRegister(t *testing.T) {
	nop := func(context.Context, events.Event) (uint64, error) { return 7, nil }
	tests := []struct {
		name    string
		regs    []Handlers
		wantErr string // of the last Register
	}{
		{"one engine", []Handlers{{Events: map[events.Kind]EventHandler{events.KindConnReset: nop}}}, ""},
		{"twice", []Handlers{{}, {}}, "registered already"},
		{"a kind the runtime handles", []Handlers{{Events: map[events.Kind]EventHandler{events.KindCrashed: nop}}}, "crashed events are the runtime's own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBareRuntime(t)
			var err error
			for _, h := range tt.regs {
				err = r.Register(h)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Register: %v", err)
				}
				idx, err := r.HandleEvent(context.Background(), events.Event{ID: "e1", Kind: events.KindConnReset})
				if err != nil || idx != 7 {
					t.Fatalf("registered handler not called: %d, %v", idx, err)
				}
				_, err = r.HandleEvent(context.Background(), events.Event{ID: "e2", Kind: events.KindRootRotate})
				if !errors.Is(err, events.ErrRejected) || !errors.Is(err, state.ErrInvalid) {
					t.Fatalf("event of an unhandled kind: %v, want a rejection", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Register: %v, want %q", err, tt.wantErr)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := newBareRuntime(t).Activate(ctx); !errors.Is(err, ErrNoHandlers) {
		t.Fatalf("Activate without handlers: %v, want ErrNoHandlers", err)
	}
}

// newBareRuntime is a runtime over an empty fake cluster and an empty plugin pool.
func newBareRuntime(t *testing.T) *Runtime {
	t.Helper()
	pool, err := plugins.NewPool(plugins.Config{PluginDir: t.TempDir(), Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Cluster: &fakeCluster{st: state.New()}, Pool: FromPool(pool)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}
