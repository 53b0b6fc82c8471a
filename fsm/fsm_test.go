package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// outcome is what the test expects of one event in one state; written out by hand here rather
// than derived from table.go, so that a change to the table has to change this file too.
type outcome struct {
	to      State
	effects []Effect
}

// nodeEvents are the events that stop a live plugin instance (test-side copy).
var nodeEvents = []Event{"step_down", "seal", "shutdown", "reload", "conn_update", "conn_delete", "conn_reset", "root_rotate", "wal_rollback"}

func withNodeEvents(m map[Event]outcome, o outcome) map[Event]outcome {
	for _, ev := range nodeEvents {
		m[ev] = o
	}
	return m
}

var stop = []Effect{"stop_process"}

// want lists, per kind and state, every accepted event; every other event of the kind must be
// refused.
var want = map[Kind]map[State]map[Event]outcome{
	KindPlugin: {
		"idle": withNodeEvents(map[Event]outcome{
			"request": {"starting", nil},
			"disable": {"disabled", nil},
		}, outcome{"idle", nil}),
		"starting": withNodeEvents(map[Event]outcome{
			"request":      {"starting", nil},
			"started":      {"running", nil},
			"start_failed": {"idle", nil},
			"crashed":      {"idle", nil},
			"disable":      {"disabling", stop},
		}, outcome{"stopping", stop}),
		"running": withNodeEvents(map[Event]outcome{
			"request": {"running", nil},
			"crashed": {"idle", nil},
			"disable": {"disabling", stop},
		}, outcome{"stopping", stop}),
		"stopping": withNodeEvents(map[Event]outcome{
			"stopped": {"idle", nil},
			"disable": {"disabling", nil},
		}, outcome{"stopping", nil}),
		"disabling": withNodeEvents(map[Event]outcome{
			"stopped": {"disabled", nil},
			"disable": {"disabling", nil},
		}, outcome{"disabling", nil}),
		// Terminal: only the teardown events, as no-ops (TestTeardownAcceptedInEveryState).
		"disabled": {
			"disable":     {"disabled", nil},
			"conn_delete": {"disabled", nil},
			"step_down":   {"disabled", nil},
			"seal":        {"disabled", nil},
			"shutdown":    {"disabled", nil},
		},
	},
	KindConnection: {
		"configured": {
			"update":      {"configured", []Effect{"close_instance"}},
			"reset":       {"configured", []Effect{"close_instance"}},
			"root_rotate": {"rotating", nil},
			"failover":    {"configured", nil},
			"delete":      {"deleted", []Effect{"close_instance"}},
		},
		"rotating": {
			"rotate_succeeded": {"configured", []Effect{"close_instance"}},
			"rotate_failed":    {"rollback_pending", []Effect{"run_rollback"}},
			"failover":         {"rollback_pending", []Effect{"run_rollback"}},
			"delete":           {"deleted", []Effect{"close_instance"}},
		},
		"rollback_pending": {
			"rollback_started": {"rolling_back", nil},
			"failover":         {"rollback_pending", nil},
			"delete":           {"deleted", []Effect{"close_instance"}},
		},
		"rolling_back": {
			"rollback_succeeded": {"configured", []Effect{"close_instance"}},
			"rollback_failed":    {"rollback_pending", []Effect{"run_rollback"}},
			"failover":           {"rollback_pending", []Effect{"run_rollback"}},
			"delete":             {"deleted", []Effect{"close_instance"}},
		},
		"deleted": {
			"delete":   {"deleted", nil},
			"failover": {"deleted", nil},
		},
	},
}

var wantEvents = map[Kind][]Event{
	KindPlugin: append([]Event{"request", "started", "start_failed", "crashed", "stopped", "disable"}, nodeEvents...),
	KindConnection: {"update", "reset", "root_rotate", "rotate_succeeded", "rotate_failed", "failover",
		"rollback_started", "rollback_succeeded", "rollback_failed", "delete"},
}

var wantTerminal = map[Kind]State{KindPlugin: "disabled", KindConnection: "deleted"}

// restore is Restore that fails the test on error.
func restore(t testing.TB, kind Kind, id string, st State, hist []Transition) *Machine {
	t.Helper()
	m, err := Restore(kind, id, st, hist)
	if err != nil {
		t.Fatalf("Restore(%s, %q, %s): %v", kind, id, st, err)
	}
	return m
}

func meta(i int) Meta {
	return Meta{
		EventID: fmt.Sprintf("ev-%d", i),
		Source:  "api",
		Index:   uint64(100 + i),
		Time:    time.Date(2026, 11, 25, 12, 0, i, 0, time.UTC),
		Reason:  fmt.Sprintf("reason %d", i),
	}
}

func TestEventsAndStates(t *testing.T) {
	for kind, states := range want {
		var wantStates []State
		for st := range states {
			wantStates = append(wantStates, st)
		}
		got := States(kind)
		if !sameSet(got, wantStates) {
			t.Errorf("States(%s) = %v, want %v", kind, got, wantStates)
		}
		if got[0] != map[Kind]State{KindPlugin: "idle", KindConnection: "configured"}[kind] {
			t.Errorf("States(%s)[0] = %s, want the initial state", kind, got[0])
		}
		if ev := Events(kind); !slices.Equal(ev, wantEvents[kind]) {
			t.Errorf("Events(%s) = %v, want %v", kind, ev, wantEvents[kind])
		}
		for _, st := range got {
			if Terminal(kind, st) != (st == wantTerminal[kind]) {
				t.Errorf("Terminal(%s, %s) = %v", kind, st, Terminal(kind, st))
			}
		}
	}
	if Events("nope") != nil || States("nope") != nil || Diagram("nope") != "" || Accepts("nope", "idle") != nil {
		t.Error("unknown kind answered")
	}
	if !slices.Equal(Kinds(), []Kind{KindPlugin, KindConnection}) {
		t.Errorf("Kinds() = %v", Kinds())
	}
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestEveryEventFromEveryState fires every event of each kind in every state of that kind.
func TestEveryEventFromEveryState(t *testing.T) {
	for _, kind := range Kinds() {
		for _, from := range States(kind) {
			for _, ev := range Events(kind) {
				t.Run(fmt.Sprintf("%s/%s/%s", kind, from, ev), func(t *testing.T) {
					m := restore(t, kind, "x", from, nil)
					o, accepted := want[kind][from][ev]
					if got := m.Can(ev); got != accepted {
						t.Fatalf("Can = %v, want %v", got, accepted)
					}
					tr, err := m.Fire(ev, meta(1))
					if !accepted {
						var refused *RefusedError
						if !errors.As(err, &refused) {
							t.Fatalf("Fire = %+v, %v; want *RefusedError", tr, err)
						}
						if *refused != (RefusedError{Kind: kind, ID: "x", State: from, Event: ev}) {
							t.Fatalf("refusal %+v", *refused)
						}
						if errors.Is(err, ErrTerminal) != Terminal(kind, from) {
							t.Fatalf("errors.Is(ErrTerminal) = %v in %s", errors.Is(err, ErrTerminal), from)
						}
						if m.State() != from || m.History() != nil {
							t.Fatalf("refused event changed the machine: %s, %v", m.State(), m.History())
						}
						return
					}
					if err != nil {
						t.Fatalf("Fire: %v", err)
					}
					wantTr := Transition{Kind: kind, ID: "x", Event: ev, From: from, To: o.to, Effects: o.effects,
						EventID: "ev-1", Source: "api", Index: 101, Time: meta(1).Time, Reason: "reason 1"}
					if !reflect.DeepEqual(tr, wantTr) {
						t.Fatalf("Fire =\n %+v\nwant\n %+v", tr, wantTr)
					}
					if m.State() != o.to {
						t.Fatalf("State = %s, want %s", m.State(), o.to)
					}
					if h := m.History(); len(h) != 1 || !reflect.DeepEqual(h[0], wantTr) {
						t.Fatalf("History = %+v", h)
					}
				})
			}
		}
	}
}

func TestAccepts(t *testing.T) {
	for kind, states := range want {
		for st, evs := range states {
			var keys []Event
			for ev := range evs {
				keys = append(keys, ev)
			}
			if got := Accepts(kind, st); !sameSet(got, keys) {
				t.Errorf("Accepts(%s, %s) = %v, want %v", kind, st, got, keys)
			}
		}
	}
}

func TestUnknownEvent(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		ev   Event
	}{
		{KindPlugin, "bogus"},
		{KindPlugin, "update"},   // a connection event
		{KindConnection, "seal"}, // a plugin event
		{KindConnection, ""},
	} {
		m := restore(t, tc.kind, "x", States(tc.kind)[0], nil)
		_, err := m.Fire(tc.ev, meta(1))
		var refused *RefusedError
		if !errors.Is(err, ErrUnknownEvent) || errors.As(err, &refused) {
			t.Errorf("%s Fire(%q) = %v, want ErrUnknownEvent", tc.kind, tc.ev, err)
		}
		if m.Can(tc.ev) {
			t.Errorf("%s Can(%q) = true", tc.kind, tc.ev)
		}
	}
}

func TestTerminalRefusesAllButTeardown(t *testing.T) {
	// Terminal states reached by firing, not by Restore.
	p := restore(t, KindPlugin, "p", "running", nil)
	for _, ev := range []Event{"disable", "stopped"} {
		if _, err := p.Fire(ev, meta(1)); err != nil {
			t.Fatal(err)
		}
	}
	c := restore(t, KindConnection, "c", "rolling_back", nil)
	if _, err := c.Fire("delete", meta(1)); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Machine{p, c} {
		if !m.Terminal() {
			t.Fatalf("%s in %s not terminal", m.Kind(), m.State())
		}
		st := m.State()
		for _, ev := range Events(m.Kind()) {
			tr, err := m.Fire(ev, meta(2))
			if slices.Contains(wantTeardown[m.Kind()], ev) {
				if err != nil || tr.To != st || tr.Effects != nil {
					t.Errorf("%s %s: %+v, %v; want a no-op", m.Kind(), ev, tr, err)
				}
				continue
			}
			if !errors.Is(err, ErrTerminal) {
				t.Errorf("%s %s: %v, want ErrTerminal", m.Kind(), ev, err)
			}
		}
	}
}

func TestRefusedErrorMessage(t *testing.T) {
	m := restore(t, KindPlugin, "database/pg", "idle", nil)
	_, err := m.Fire("started", meta(1))
	msg := err.Error()
	for _, s := range []string{`plugin "database/pg" is idle`, "started refused", "request", "disable", "wal_rollback"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}
	c := restore(t, KindConnection, "pg", "deleted", nil)
	_, err = c.Fire("update", meta(1))
	if msg := err.Error(); !strings.Contains(msg, "deleted (terminal)") || !strings.Contains(msg, "accepts only teardown events, as no-ops (failover, delete)") {
		t.Errorf("terminal message %q", msg)
	}
}

func TestNewAndRestoreRefuse(t *testing.T) {
	good := Transition{Kind: KindPlugin, ID: "p", Event: "request", From: "idle", To: "starting"}
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"new unknown kind", func() error { _, err := New("vault", "x"); return err }, ErrUnknownKind},
		{"restore unknown kind", func() error { _, err := Restore("vault", "x", "idle", nil); return err }, ErrUnknownKind},
		{"restore unknown state", func() error { _, err := Restore(KindPlugin, "p", "configured", nil); return err }, ErrUnknownState},
		{"history of another id", func() error {
			o := good
			o.ID = "q"
			_, err := Restore(KindPlugin, "p", "starting", []Transition{o})
			return err
		}, ErrInvalidSnapshot},
		{"history of another kind", func() error {
			o := good
			o.Kind = KindConnection
			_, err := Restore(KindPlugin, "p", "starting", []Transition{o})
			return err
		}, ErrInvalidSnapshot},
		{"history ends elsewhere", func() error { _, err := Restore(KindPlugin, "p", "running", []Transition{good}); return err }, ErrInvalidSnapshot},
		{"json unknown state", func() error {
			var m Machine
			return json.Unmarshal([]byte(`{"kind":"connection","id":"c","state":"idle"}`), &m)
		}, ErrUnknownState},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := New(KindPlugin, ""); err == nil {
		t.Error("empty id accepted")
	}
	var m Machine
	if err := json.Unmarshal([]byte(`[1]`), &m); err == nil {
		t.Error("garbage snapshot accepted")
	}
}

func TestNewStartsInInitialState(t *testing.T) {
	for kind, st := range map[Kind]State{KindPlugin: "idle", KindConnection: "configured"} {
		m, err := New(kind, "x")
		if err != nil {
			t.Fatal(err)
		}
		if m.State() != st || m.Kind() != kind || m.ID() != "x" || m.History() != nil || m.Terminal() {
			t.Errorf("New(%s) = %s %s %q %v", kind, m.State(), m.Kind(), m.ID(), m.History())
		}
	}
}

// cycle is a closed plugin loop: idle → starting → running → stopping → idle.
var cycle = []Event{"request", "started", "step_down", "stopped"}

func TestHistoryRecordsMetaInUTC(t *testing.T) {
	m, _ := New(KindPlugin, "p")
	paris := time.FixedZone("CET", 3600)
	at := time.Date(2026, 11, 25, 13, 0, 0, 5, paris)
	for i, ev := range cycle {
		md := meta(i)
		if i == 0 {
			md.Time = at
		}
		if _, err := m.Fire(ev, md); err != nil {
			t.Fatal(err)
		}
	}
	h := m.History()
	if len(h) != len(cycle) {
		t.Fatalf("len(History) = %d", len(h))
	}
	for i, tr := range h {
		if tr.Event != cycle[i] || tr.EventID != fmt.Sprintf("ev-%d", i) || tr.Source != "api" ||
			tr.Index != uint64(100+i) || tr.Reason != fmt.Sprintf("reason %d", i) {
			t.Errorf("History[%d] = %+v", i, tr)
		}
		if tr.Time.Location() != time.UTC {
			t.Errorf("History[%d].Time in %v, want UTC", i, tr.Time.Location())
		}
	}
	if !h[0].Time.Equal(at) {
		t.Errorf("time %v, want %v", h[0].Time, at)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	m, _ := New(KindPlugin, "p")
	const n = 3*HistoryLimit + 2 // not a multiple of the limit, so the ring has wrapped mid-way
	for i := range n {
		if _, err := m.Fire(cycle[i%len(cycle)], meta(i)); err != nil {
			t.Fatal(err)
		}
	}
	h := m.History()
	if len(h) != HistoryLimit {
		t.Fatalf("len(History) = %d, want %d", len(h), HistoryLimit)
	}
	for j, tr := range h {
		i := n - HistoryLimit + j
		if tr.Index != uint64(100+i) || tr.Event != cycle[i%len(cycle)] {
			t.Fatalf("History[%d] = %s index %d, want %s index %d", j, tr.Event, tr.Index, cycle[i%len(cycle)], 100+i)
		}
	}
	// Restore keeps only the newest entries of an over-long history.
	long := append(slices.Clone(h), h...)
	r := restore(t, KindPlugin, "p", m.State(), long)
	if got := r.History(); !reflect.DeepEqual(got, h) {
		t.Fatalf("Restore of %d entries kept %d, not the last %d", len(long), len(got), HistoryLimit)
	}
}

func TestEffectsAreCopies(t *testing.T) {
	m, _ := New(KindConnection, "c")
	tr, _ := m.Fire("update", meta(1))
	tr.Effects[0] = "boom"
	m.History()[0].Effects[0] = "boom"
	m.Snapshot().History[0].Effects[0] = "boom"
	tr2, _ := m.Fire("update", meta(2))
	for _, got := range [][]Effect{tr2.Effects, m.History()[0].Effects} {
		if !slices.Equal(got, []Effect{"close_instance"}) {
			t.Fatalf("effects shared with callers: %v", got)
		}
	}
}

// run fires evs in order and returns what came back, errors as text.
func run(t *testing.T, m *Machine, evs []Event) []string {
	t.Helper()
	var out []string
	for i, ev := range evs {
		tr, err := m.Fire(ev, meta(i))
		if err != nil {
			out = append(out, "error: "+err.Error())
			continue
		}
		b, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		evs  []Event
	}{
		{"fresh", KindPlugin, nil},
		{"partial history", KindConnection, []Event{"root_rotate", "failover", "rollback_started", "rollback_failed", "rollback_started"}},
		{"wrapped history", KindPlugin, slices.Repeat(cycle, HistoryLimit/2+1)},
		{"terminal", KindConnection, []Event{"update", "delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := New(tt.kind, "id/1")
			run(t, m, tt.evs)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var got Machine
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Snapshot(), m.Snapshot()) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got.Snapshot(), m.Snapshot())
			}
			b2, _ := json.Marshal(&got)
			if string(b2) != string(b) {
				t.Fatalf("re-encoding differs:\n%s\n%s", b2, b)
			}
			r := restore(t, tt.kind, "id/1", m.State(), m.History())
			if !reflect.DeepEqual(r.Snapshot(), m.Snapshot()) {
				t.Fatal("Restore from History differs")
			}
			// The restored machines go on exactly as the original.
			more := Events(tt.kind)
			want := run(t, m, more)
			if g := run(t, &got, more); !slices.Equal(g, want) {
				t.Fatalf("after JSON restore:\n%v\nwant\n%v", g, want)
			}
			if g := run(t, r, more); !slices.Equal(g, want) {
				t.Fatalf("after Restore:\n%v\nwant\n%v", g, want)
			}
		})
	}
}

func TestDeterminism(t *testing.T) {
	for _, kind := range Kinds() {
		// Every event three times over, in an order that visits most states.
		var evs []Event
		for i := range 3 {
			all := Events(kind)
			for j := range all {
				evs = append(evs, all[(j*7+i)%len(all)])
			}
		}
		a, _ := New(kind, "same")
		b, _ := New(kind, "same")
		ra, rb := run(t, a, evs), run(t, b, evs)
		if !slices.Equal(ra, rb) {
			t.Fatalf("%s: same inputs, different outputs", kind)
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Fatalf("%s: same inputs, different snapshots", kind)
		}
		if d1, d2 := Diagram(kind), Diagram(kind); d1 != d2 {
			t.Fatal("diagram not stable")
		}
	}
}

func TestDiagramHasEveryTransition(t *testing.T) {
	for kind, states := range want {
		d := Diagram(kind)
		lines := strings.Split(strings.TrimSpace(d), "\n")
		if lines[0] != "stateDiagram-v2" {
			t.Fatalf("%s diagram starts %q", kind, lines[0])
		}
		has := func(l string) bool { return slices.Contains(lines, "    "+l) }
		if !has("[*] --> " + string(States(kind)[0])) {
			t.Errorf("%s diagram lacks its initial state", kind)
		}
		if !has(string(wantTerminal[kind]) + " --> [*]") {
			t.Errorf("%s diagram lacks its terminal state", kind)
		}
		n := 0
		for from, evs := range states {
			for ev, o := range evs {
				n++
				if l := fmt.Sprintf("%s --> %s: %s", from, o.to, ev); !has(l) {
					t.Errorf("%s diagram lacks %q", kind, l)
				}
			}
		}
		if got := len(lines) - 3; got != n { // header, [*] start, terminal end
			t.Errorf("%s diagram has %d transitions, want %d:\n%s", kind, got, n, d)
		}
	}
}

func TestInstanceEvent(t *testing.T) {
	mapped := 0
	for _, ev := range Events(KindConnection) {
		iev, ok := InstanceEvent(ev)
		if !ok {
			continue
		}
		mapped++
		m := restore(t, KindPlugin, "p", "running", nil)
		tr, err := m.Fire(iev, meta(1))
		if err != nil || tr.To != "stopping" {
			t.Errorf("%s → %s on a running instance: %+v, %v", ev, iev, tr, err)
		}
	}
	if mapped != 5 {
		t.Errorf("%d connection events reach the instance, want 5", mapped)
	}
	if _, ok := InstanceEvent("request"); ok {
		t.Error("a plugin event mapped")
	}
}

func TestConcurrentReaders(t *testing.T) {
	m, _ := New(KindPlugin, "p")
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					_ = m.State()
					_ = m.History()
					_, _ = json.Marshal(m)
					_ = m.Can("request")
				}
			}
		})
	}
	for i := range 1000 {
		if _, err := m.Fire(cycle[i%len(cycle)], meta(i)); err != nil {
			t.Error(err)
		}
	}
	close(done)
	wg.Wait()
}

// TestConcurrentMachines: machines of one kind share the kind's looplab runner; firing them
// from several goroutines must neither race nor mix their states up.
func TestConcurrentMachines(t *testing.T) {
	var wg sync.WaitGroup
	ms := make([]*Machine, 4)
	for g := range ms {
		ms[g], _ = New(KindPlugin, fmt.Sprintf("p%d", g))
		wg.Go(func() {
			for i := range 1000 + g {
				if _, err := ms[g].Fire(cycle[i%len(cycle)], meta(i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for g, m := range ms {
		if want := cycle[(1000+g-1)%len(cycle)]; m.History()[HistoryLimit-1].Event != want {
			t.Errorf("machine %d last event %s, want %s", g, m.History()[HistoryLimit-1].Event, want)
		}
	}
}
