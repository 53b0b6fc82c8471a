// Package fsm holds Baton's two lifecycle state machines — the plugin instance and the
// database connection — on github.com/looplab/fsm: their states, events, allowed transitions,
// and the effects each transition asks of the active node's runtime.
//
// The replicated state calls Fire inside raft Apply on every node, so the package is pure and
// deterministic: no I/O, no clock (the time comes in with the event), no goroutines, and the
// same state and event always give the same transition. Refusals are values (*RefusedError),
// never panics, because a refused event is an ordinary outcome of replication races (a stale
// "started" after a step-down, say).
//
// Decisions the tables encode:
//   - Plugin instance: node-level and connection-level events (step_down, seal, shutdown,
//     reload, conn_update, conn_delete, conn_reset, root_rotate, wal_rollback) take starting or
//     running to stopping with EffectStopProcess. They are often broadcast to every instance,
//     so where nothing runs (idle) or a stop is already under way (stopping, disabling) they
//     are accepted as recorded no-ops, never refused.
//   - disable from idle goes straight to disabled; from starting or running it goes to
//     disabling (EffectStopProcess), whose stopped ends in disabled; from stopping it turns the
//     stop under way into a disabling one.
//   - stopping and disabling end only with stopped: the runtime answers every
//     EffectStopProcess with exactly one stopped. crashed applies to starting and running. A
//     new leader that inherits an instance it runs no process for reconciles it: crashed from
//     starting or running, stopped from stopping or disabling.
//   - request joins a start under way (starting, running: no-op); it is refused while
//     stopping, and the caller retries once stopped lands.
//   - Connection: update and reset only from configured (a rotation or rollback owns the
//     credentials until it ends); failover abandons an in-flight rotation or rollback to the
//     rollback manager and is a no-op elsewhere; delete works from any live state.
//   - Teardown events (Teardown: disable, conn_delete, step_down, seal, shutdown; delete,
//     failover) are accepted in every state, the terminal ones included, where they are
//     recorded no-ops: a teardown never fails and may be repeated (DESIGN.md invariant 10).
//     A terminal state is never left and asks for no work; every other event is refused there.
package fsm

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// HistoryLimit is how many transitions a machine keeps. History lives in every node's memory
// and in every Raft snapshot, so it must not grow with a machine's age: 64 entries (about
// 16 KiB of JSON) hold the last dozen full cycles (a plugin start/stop cycle is four
// transitions, a rotation with rollback five), enough to explain the current state through
// the API. The complete record is the stream on NATS.
const HistoryLimit = 64

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrUnknownKind: the kind is neither KindPlugin nor KindConnection.
	ErrUnknownKind = errors.New("fsm: unknown kind")
	// ErrUnknownEvent: the event is not an event of the machine's kind (a caller bug or bad
	// input, unlike a refusal, which depends on the state).
	ErrUnknownEvent = errors.New("fsm: unknown event")
	// ErrUnknownState: Restore was given a state that is not a state of the kind.
	ErrUnknownState = errors.New("fsm: unknown state")
	// ErrTerminal: the machine is in a terminal state; a *RefusedError wraps it.
	ErrTerminal = errors.New("fsm: terminal state")
	// ErrInvalidSnapshot: Restore's history does not belong to the machine it restores.
	ErrInvalidSnapshot = errors.New("fsm: invalid snapshot")
)

// RefusedError is a known event that the machine's current state does not accept. The
// machine is unchanged. Use errors.As; errors.Is(err, ErrTerminal) tells a terminal machine.
type RefusedError struct {
	Kind  Kind
	ID    string
	State State
	Event Event
}

// Error says the state and the events that state would accept, so that an operator reading
// an API error knows what to do next.
func (e *RefusedError) Error() string {
	acc := Accepts(e.Kind, e.State)
	names := make([]string, len(acc))
	for i, ev := range acc {
		names[i] = string(ev)
	}
	if Terminal(e.Kind, e.State) {
		return fmt.Sprintf("fsm: %s %q is %s (terminal): event %s refused; it accepts only teardown events, as no-ops (%s)",
			e.Kind, e.ID, e.State, e.Event, strings.Join(names, ", "))
	}
	return fmt.Sprintf("fsm: %s %q is %s: event %s refused; %s accepts %s",
		e.Kind, e.ID, e.State, e.Event, e.State, strings.Join(names, ", "))
}

// Unwrap gives ErrTerminal when the machine is in a terminal state.
func (e *RefusedError) Unwrap() error {
	if Terminal(e.Kind, e.State) {
		return ErrTerminal
	}
	return nil
}

// Meta is what a transition records about the event that caused it, all of it settled before
// Apply (the leader's clock, the command id and the Raft index), so that every node records
// the same thing. Reason is free text shown to operators: never put a secret in it.
type Meta struct {
	EventID string
	Source  string
	Index   uint64
	Time    time.Time
	Reason  string
}

// Transition is one accepted event: what the API shows, what goes on
// baton.<cluster>.transitions.<kind>.<id>, and what the runtime reads its Effects from.
// From == To for the no-op rows; Effects is nil when there is nothing to do. Time is in UTC
// so that a snapshot's JSON round trip gives back an identical value.
type Transition struct {
	Kind    Kind      `json:"kind"`
	ID      string    `json:"id"`
	Event   Event     `json:"event"`
	From    State     `json:"from"`
	To      State     `json:"to"`
	Effects []Effect  `json:"effects,omitempty"`
	EventID string    `json:"event_id,omitempty"`
	Source  string    `json:"source,omitempty"`
	Index   uint64    `json:"index,omitempty"`
	Time    time.Time `json:"time"`
	Reason  string    `json:"reason,omitempty"`
}

// clone gives t with its own Effects, so a caller cannot reach the shared table's slices.
func (t Transition) clone() Transition {
	t.Effects = slices.Clone(t.Effects)
	return t
}

// Machine is one plugin instance's or connection's lifecycle. It is safe for concurrent use:
// Apply fires while API handlers read State and History.
type Machine struct {
	mu    sync.Mutex
	spec  *spec
	id    string
	state State
	// hist is a ring of at most HistoryLimit transitions; start is the oldest once it is full.
	// A ring, not a sliding slice, so that a full history costs no copy per event.
	hist  []Transition
	start int
}

// New makes a machine in its kind's initial state: idle for a plugin instance (no process
// until a request needs one), configured for a connection.
func New(kind Kind, id string) (*Machine, error) {
	s := specs[kind]
	if s == nil {
		return nil, fmt.Errorf("%w %q (machine %q)", ErrUnknownKind, kind, id)
	}
	if id == "" {
		return nil, fmt.Errorf("fsm: new %s machine: empty id", kind)
	}
	return &Machine{spec: s, id: id, state: s.initial}, nil
}

// Restore rebuilds a machine from a snapshot. history keeps its order (oldest first) and is
// cut to its last HistoryLimit entries; its times are normalised to UTC. Every entry must
// belong to this kind and id and the last must end in state; entries are otherwise not checked
// against the current table, which may have gained or lost rows since they were recorded.
func Restore(kind Kind, id string, state State, history []Transition) (*Machine, error) {
	m, err := New(kind, id)
	if err != nil {
		return nil, err
	}
	if !m.spec.isState[state] {
		return nil, fmt.Errorf("%w %q for %s %q", ErrUnknownState, state, kind, id)
	}
	if n := len(history); n > HistoryLimit {
		history = history[n-HistoryLimit:]
	}
	for i, t := range history {
		if t.Kind != kind || t.ID != id {
			return nil, fmt.Errorf("%w of %s %q: history entry %d belongs to %s %q",
				ErrInvalidSnapshot, kind, id, i, t.Kind, t.ID)
		}
	}
	if n := len(history); n > 0 && history[n-1].To != state {
		return nil, fmt.Errorf("%w of %s %q: state %s but the last transition ends in %s",
			ErrInvalidSnapshot, kind, id, state, history[n-1].To)
	}
	m.state = state
	if len(history) > 0 {
		m.hist = make([]Transition, len(history))
		for i, t := range history {
			t = t.clone()
			t.Time = t.Time.UTC()
			m.hist[i] = t
		}
	}
	return m, nil
}

// Kind is the machine's kind.
func (m *Machine) Kind() Kind {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.spec.kind
}

// ID is the machine's id (a mount path or connection name; never a secret).
func (m *Machine) ID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

// State is the current state.
func (m *Machine) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Terminal reports whether the machine is in a terminal state.
func (m *Machine) Terminal() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.spec.terminal[m.state]
}

// Can reports whether Fire(ev) would be accepted now.
func (m *Machine) Can(ev Event) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.spec.byKey[key{m.state, ev}] != nil
}

// Fire applies ev. On success the machine moves, records the transition in its history and
// returns it with the effects the runtime must carry out. An event unknown to the kind gives
// an error wrapping ErrUnknownEvent; a known event the state does not accept gives a
// *RefusedError. Either way the machine is unchanged and nothing is recorded.
func (m *Machine) Fire(ev Event, meta Meta) (Transition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.spec
	from := m.state
	r := s.byKey[key{from, ev}]
	if r == nil {
		if !s.isEvent[ev] {
			return Transition{}, fmt.Errorf("%w %q for %s %q", ErrUnknownEvent, ev, s.kind, m.id)
		}
		return Transition{}, &RefusedError{Kind: s.kind, ID: m.id, State: from, Event: ev}
	}
	to, err := s.run(from, ev)
	if err != nil {
		return Transition{}, fmt.Errorf("fsm: %s %q: %s in %s: %w", s.kind, m.id, ev, from, err)
	}
	if to != r.to {
		// Unreachable while looplab runs the table it was built from; never record a lie.
		return Transition{}, fmt.Errorf("fsm: %s %q: %s in %s reached %s, table says %s", s.kind, m.id, ev, from, to, r.to)
	}
	m.state = to
	t := Transition{
		Kind: s.kind, ID: m.id, Event: ev, From: from, To: r.to, Effects: r.effects,
		EventID: meta.EventID, Source: meta.Source, Index: meta.Index, Time: meta.Time.UTC(), Reason: meta.Reason,
	}
	m.record(t)
	return t.clone(), nil
}

// record adds t to the ring. Entries keep the table's shared Effects slice; every way out
// (Fire, History, Snapshot) hands out copies.
func (m *Machine) record(t Transition) {
	if len(m.hist) < HistoryLimit {
		m.hist = append(m.hist, t) // grows as needed: most machines never fill the ring
		return
	}
	m.hist[m.start] = t
	m.start = (m.start + 1) % HistoryLimit
}

// History returns a copy of the recorded transitions, oldest first, at most HistoryLimit.
func (m *Machine) History() []Transition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.historyLocked()
}

func (m *Machine) historyLocked() []Transition {
	if len(m.hist) == 0 {
		return nil
	}
	// All entries' effects share one fresh backing array (capped per entry, so an append by
	// the caller cannot spill into a neighbour): two allocations instead of one per entry.
	n := 0
	for i := range m.hist {
		n += len(m.hist[i].Effects)
	}
	arena := make([]Effect, 0, n)
	out := make([]Transition, len(m.hist))
	for i := range out {
		t := m.hist[(m.start+i)%len(m.hist)]
		if len(t.Effects) > 0 {
			from := len(arena)
			arena = append(arena, t.Effects...)
			t.Effects = arena[from:len(arena):len(arena)]
		}
		out[i] = t
	}
	return out
}

// Snapshot is a machine's whole state, as stored in Raft snapshots; Restore (or
// json.Unmarshal into a Machine) gives back an identical machine.
type Snapshot struct {
	Kind    Kind         `json:"kind"`
	ID      string       `json:"id"`
	State   State        `json:"state"`
	History []Transition `json:"history,omitempty"`
}

// Snapshot captures the machine.
func (m *Machine) Snapshot() Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Snapshot{Kind: m.spec.kind, ID: m.id, State: m.state, History: m.historyLocked()}
}

// MarshalJSON encodes the machine's Snapshot.
func (m *Machine) MarshalJSON() ([]byte, error) {
	return json.Marshal(m.Snapshot())
}

// UnmarshalJSON replaces the machine with the one a Snapshot encodes, checked as Restore
// checks it; on error the machine is unchanged.
func (m *Machine) UnmarshalJSON(b []byte) error {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("fsm: decode snapshot: %w", err)
	}
	r, err := Restore(s.Kind, s.ID, s.State, s.History)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.spec, m.id, m.state, m.hist, m.start = r.spec, r.id, r.state, r.hist, r.start
	return nil
}
