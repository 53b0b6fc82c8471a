package state

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
)

func TestAutopilotConfigCommand(t *testing.T) {
	s := New()
	var got AutopilotConfig
	s.View(func(d *Data) { got = d.AutopilotConfig() })
	if got != DefaultAutopilotConfig() {
		t.Fatalf("default %+v", got)
	}
	good := DefaultAutopilotConfig()
	good.CleanupDeadServers, good.MinQuorum, good.DeadServerLastContactThreshold = true, 3, time.Minute
	for i, tc := range []struct {
		name string
		c    AutopilotConfig
		ok   bool
	}{
		{"valid", good, true},
		{"cleanup with min_quorum 2", func() AutopilotConfig { c := good; c.MinQuorum = 2; return c }(), false},
		{"dead threshold 59s", func() AutopilotConfig { c := good; c.DeadServerLastContactThreshold = 59 * time.Second; return c }(), false},
		{"no last contact threshold", func() AutopilotConfig { c := good; c.LastContactThreshold = 0; return c }(), false},
		{"negative stabilisation", func() AutopilotConfig { c := good; c.ServerStabilizationTime = -1; return c }(), false},
	} {
		c, err := command.New(TypeAutopilotConfig, "ap-"+tc.name, command.SourceAPI, time.Unix(1, 0), tc.c)
		if err != nil {
			t.Fatal(err)
		}
		res := s.Apply(uint64(i+1), c)
		if err, isErr := res.(error); isErr == tc.ok || (isErr && !errors.Is(err, ErrInvalid)) {
			t.Fatalf("%s: %v", tc.name, res)
		}
		s.View(func(d *Data) { got = d.AutopilotConfig() })
		if got != good {
			t.Fatalf("%s: config in force %+v", tc.name, got)
		}
	}
	// It is in snapshots.
	b, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	r.View(func(d *Data) { got = d.AutopilotConfig() })
	if got != good {
		t.Fatalf("restored %+v", got)
	}
	// RestorePrepared adopts a decoded state, and refuses anything else.
	s2 := New()
	if err := s2.RestorePrepared(r); err != nil {
		t.Fatal(err)
	}
	s2.View(func(d *Data) { got = d.AutopilotConfig() })
	if got != good {
		t.Fatalf("adopted %+v", got)
	}
	if err := s2.RestorePrepared("x"); err == nil {
		t.Fatal("RestorePrepared took a string")
	}
}
