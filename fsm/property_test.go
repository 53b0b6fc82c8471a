package fsm

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestRandomSequences: any sequence of events — the kind's own, the other kind's, unknown
// ones — never panics, keeps the machine in one of its states, changes it only on success,
// leaves every teardown event accepted, records exactly the accepted events, and snapshots
// exactly.
func TestRandomSequences(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		kind := rapid.SampledFrom(Kinds()).Draw(t, "kind")
		var pool []Event
		for _, k := range Kinds() {
			pool = append(pool, Events(k)...)
		}
		pool = append(pool, "", "bogus")
		start := rapid.SampledFrom(States(kind)).Draw(t, "start")
		m, err := Restore(kind, "m", start, nil)
		if err != nil {
			t.Fatal(err)
		}
		accepted := 0
		var last Transition
		n := rapid.IntRange(0, 3*HistoryLimit).Draw(t, "n")
		for i := range n {
			ev := rapid.SampledFrom(pool).Draw(t, "event")
			from := m.State()
			can := m.Can(ev)
			md := Meta{EventID: "e", Source: "nats", Index: uint64(i + 1), Time: time.Unix(int64(i), 0)}
			tr, err := m.Fire(ev, md)
			var refused *RefusedError
			switch {
			case err == nil:
				if !can {
					t.Fatalf("%s in %s: Can false but Fire accepted", ev, from)
				}
				if tr.From != from || tr.To != m.State() || tr.Event != ev || tr.Index != uint64(i+1) {
					t.Fatalf("transition %+v from %s now %s", tr, from, m.State())
				}
				accepted++
				last = tr
			case errors.As(err, &refused):
				if can || !slices.Contains(Events(kind), ev) || refused.State != from {
					t.Fatalf("%s in %s: refused %v, Can %v", ev, from, err, can)
				}
			case errors.Is(err, ErrUnknownEvent):
				if can || slices.Contains(Events(kind), ev) {
					t.Fatalf("%s: unknown to %s? %v", ev, kind, err)
				}
			default:
				t.Fatalf("%s in %s: unexpected error %v", ev, from, err)
			}
			if err != nil && m.State() != from {
				t.Fatalf("error %v moved %s to %s", err, from, m.State())
			}
			if !slices.Contains(States(kind), m.State()) {
				t.Fatalf("unknown state %q", m.State())
			}
			// Whatever came before, every teardown is still accepted (DESIGN.md invariant 10).
			for _, td := range Teardown(kind) {
				if !m.Can(td) {
					t.Fatalf("%s in %s refuses teardown %s", kind, m.State(), td)
				}
			}
		}
		h := m.History()
		if len(h) != min(accepted, HistoryLimit) {
			t.Fatalf("history %d entries after %d accepted", len(h), accepted)
		}
		if accepted > 0 && !reflect.DeepEqual(h[len(h)-1], last) {
			t.Fatalf("last history entry %+v, want %+v", h[len(h)-1], last)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var r Machine
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("snapshot %s does not restore: %v", b, err)
		}
		if !reflect.DeepEqual(r.Snapshot(), m.Snapshot()) {
			t.Fatal("snapshot round trip differs")
		}
	})
}

// TestTerminalReachable: from every state, some events lead to the terminal state, so no
// machine can be stuck where it can be neither used nor removed.
func TestTerminalReachable(t *testing.T) {
	for _, kind := range Kinds() {
		for _, st := range States(kind) {
			seen := map[State]bool{st: true}
			queue := []State{st}
			for len(queue) > 0 {
				cur := queue[0]
				queue = queue[1:]
				for _, ev := range Accepts(kind, cur) {
					m := restore(t, kind, "m", cur, nil)
					tr, err := m.Fire(ev, Meta{})
					if err != nil {
						t.Fatal(err)
					}
					if !seen[tr.To] {
						seen[tr.To] = true
						queue = append(queue, tr.To)
					}
				}
			}
			for _, s := range States(kind) {
				if Terminal(kind, s) && !seen[s] {
					t.Errorf("%s: %s cannot reach %s", kind, st, s)
				}
			}
		}
	}
}
