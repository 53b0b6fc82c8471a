package fsm

import (
	"fmt"
	"slices"
	"testing"
)

// wantTeardown lists, per kind, the events that tear a machine down or hand it over
// (test-side copy): DESIGN.md invariant 10, every teardown succeeds from every reachable state.
var wantTeardown = map[Kind][]Event{
	KindPlugin:     {"disable", "conn_delete", "step_down", "seal", "shutdown"},
	KindConnection: {"delete", "failover"},
}

// TestTeardownAcceptedInEveryState: every teardown event is accepted in every state of its
// kind, the terminal one included, where it is a recorded no-op that asks for nothing. A
// command that tears down two machines in a row (mount.delete disables the instance, then
// deletes the connection, whose delete reaches the instance as conn_delete) must not be
// refused because the first step already ended the machine (issue 9 item 1).
func TestTeardownAcceptedInEveryState(t *testing.T) {
	for _, kind := range Kinds() {
		if got := Teardown(kind); !slices.Equal(got, wantTeardown[kind]) {
			t.Errorf("Teardown(%s) = %v, want %v", kind, got, wantTeardown[kind])
		}
		for _, from := range States(kind) {
			for _, ev := range wantTeardown[kind] {
				t.Run(fmt.Sprintf("%s/%s/%s", kind, from, ev), func(t *testing.T) {
					m := restore(t, kind, "x", from, nil)
					tr, err := m.Fire(ev, meta(1))
					if err != nil {
						t.Fatalf("Fire: %v", err)
					}
					if Terminal(kind, from) && (tr.To != from || len(tr.Effects) != 0) {
						t.Fatalf("a teardown in the terminal state moved or asked for work: %+v", tr)
					}
				})
			}
		}
	}
}

func TestTeardownUnknownKind(t *testing.T) {
	if Teardown("nope") != nil {
		t.Error("Teardown of an unknown kind answered")
	}
}
