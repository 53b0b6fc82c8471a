package core

import (
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/clusterpki"
	"github.com/baton-hq/baton/raftstore"
)

// TestConfigValidateChangesNothing: Validate only checks, for a valid config with every default
// left empty as for an invalid one (it used to fill defaults in the config it checked).
func TestConfigValidateChangesNothing(t *testing.T) {
	for _, cfg := range []Config{
		{NodeID: "n", DataDir: "d", RaftBind: "a", APIAddr: "x"},
		{NodeID: "n"},
	} {
		before := cfg
		_ = cfg.Validate()
		if !reflect.DeepEqual(cfg, before) {
			t.Fatalf("Validate changed the config: %+v, was %+v", cfg, before)
		}
	}
}

// TestConfigDefaults: withDefaults fills exactly the fields left empty, keeps what is set, and
// leaves the config it is called on alone.
func TestConfigDefaults(t *testing.T) {
	empty := Config{NodeID: "n", DataDir: "d", RaftBind: "127.0.0.1:1", APIAddr: "x"}
	got := empty.withDefaults()
	if got.Cluster != "baton" || got.RaftAdvertise != "127.0.0.1:1" || got.ConsumerConcurrency != 1024 || got.Logger == nil ||
		got.ClusterCertTTL != clusterpki.DefaultCertTTL ||
		!reflect.DeepEqual(got.Raft, raftstore.FastConfig()) {
		t.Fatalf("defaults: %+v", got)
	}
	if empty.Cluster != "" || empty.RaftAdvertise != "" || empty.ConsumerConcurrency != 0 || empty.Logger != nil || empty.Raft.HeartbeatTimeout != 0 {
		t.Fatalf("withDefaults changed its receiver: %+v", empty)
	}

	log := hclog.NewNullLogger()
	rc := raftstore.FastConfig()
	rc.HeartbeatTimeout = 7 * time.Second
	set := Config{NodeID: "n", DataDir: "d", RaftBind: "127.0.0.1:1", APIAddr: "x",
		Cluster: "c1", RaftAdvertise: "10.0.0.1:1", ConsumerConcurrency: 3, Logger: log, Raft: rc,
		ClusterCertTTL: time.Hour}
	if got := set.withDefaults(); !reflect.DeepEqual(got, set) {
		t.Fatalf("withDefaults replaced set fields: %+v, want %+v", got, set)
	}
	// A negative concurrency is not a setting: it gets the default, as before.
	if got := (Config{ConsumerConcurrency: -1}).withDefaults(); got.ConsumerConcurrency != 1024 {
		t.Fatalf("ConsumerConcurrency -1 → %d, want 1024", got.ConsumerConcurrency)
	}
}
