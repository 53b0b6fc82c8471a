package fsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	looplab "github.com/looplab/fsm"
)

// Kind names one of the two lifecycle machines; it is also the <kind> in NATS subjects.
type Kind string

// The machine kinds.
const (
	// KindPlugin is a plugin instance: one per mount or connection bound to a catalog entry.
	KindPlugin Kind = "plugin"
	// KindConnection is a database connection of the database engine.
	KindConnection Kind = "connection"
)

// State is a machine's state. The names are part of the API, the snapshots and NATS payloads.
type State string

// Plugin instance states.
const (
	// StateIdle has no process; the next request starts one (lazy start).
	StateIdle State = "idle"
	// StateStarting has a process being spawned and handshaken.
	StateStarting State = "starting"
	// StateRunning has a live process serving requests.
	StateRunning State = "running"
	// StateStopping has a process being stopped; it ends in idle.
	StateStopping State = "stopping"
	// StateDisabling has a process being stopped for a disable; it ends in disabled. It is a
	// state of its own, not stopping plus a flag, so that the pending disable lives in the
	// table, the snapshot and the diagram rather than in a side field.
	StateDisabling State = "disabling"
	// StateDisabled is terminal: the instance never runs again.
	StateDisabled State = "disabled"
)

// Connection states.
const (
	// StateConfigured is a connection at rest with its stored config.
	StateConfigured State = "configured"
	// StateRotating has a root rotation in flight: its WAL entry is committed, the database may
	// or may not have the new password yet.
	StateRotating State = "rotating"
	// StateRollbackPending waits for the rollback manager to take its WAL entry.
	StateRollbackPending State = "rollback_pending"
	// StateRollingBack has the rollback manager running the WAL entry's handler.
	StateRollingBack State = "rolling_back"
	// StateDeleted is terminal.
	StateDeleted State = "deleted"
)

// Event is what moves a machine. Names follow DESIGN.md and the event list.
type Event string

// Plugin instance events.
const (
	// EventRequest: a request needs the plugin (idle → starting).
	EventRequest Event = "request"
	// EventStarted: the runtime's start completed (starting → running).
	EventStarted Event = "started"
	// EventStartFailed: the runtime's start failed or timed out (starting → idle).
	EventStartFailed Event = "start_failed"
	// EventCrashed: the process died on its own (starting/running → idle; next use restarts).
	EventCrashed Event = "crashed"
	// EventStopped: the runtime finished a stop (stopping → idle, disabling → disabled).
	EventStopped Event = "stopped"
	// EventStepDown: the active node hands leadership over.
	EventStepDown Event = "step_down"
	// EventSeal: the node is sealed.
	EventSeal Event = "seal"
	// EventShutdown: the node shuts down.
	EventShutdown Event = "shutdown"
	// EventReload: sys/plugins/reload/backend or the engine's reload.
	EventReload Event = "reload"
	// EventDisable: the mount or catalog entry is disabled for good.
	EventDisable Event = "disable"
	// EventConnUpdate: the bound connection's config changed.
	EventConnUpdate Event = "conn_update"
	// EventConnDelete: the bound connection was deleted.
	EventConnDelete Event = "conn_delete"
	// EventConnReset: the bound connection was reset.
	EventConnReset Event = "conn_reset"
	// EventRootRotate: the bound connection's root credential changed.
	EventRootRotate Event = "root_rotate"
	// EventWALRollback: a WAL rollback restored the bound connection's old credential.
	EventWALRollback Event = "wal_rollback"
)

// Connection events. EventRootRotate is shared with the plugin kind.
const (
	// EventUpdate: the connection's config was written.
	EventUpdate Event = "update"
	// EventReset: the connection was reset (closed and re-initialised with its stored config).
	EventReset Event = "reset"
	// EventRotateSucceeded: the new root config and the WAL delete were committed.
	EventRotateSucceeded Event = "rotate_succeeded"
	// EventRotateFailed: UpdateUser failed; the WAL entry stays for the rollback manager.
	EventRotateFailed Event = "rotate_failed"
	// EventFailover: leadership changed; an in-flight rotation or rollback of the old leader
	// is abandoned and left to the new leader's rollback manager.
	EventFailover Event = "failover"
	// EventRollbackStarted: the rollback manager took the connection's WAL entry.
	EventRollbackStarted Event = "rollback_started"
	// EventRollbackSucceeded: the handler succeeded and the WAL entry was deleted.
	EventRollbackSucceeded Event = "rollback_succeeded"
	// EventRollbackFailed: the handler failed; it is retried later, never dropped.
	EventRollbackFailed Event = "rollback_failed"
	// EventDelete: the connection was deleted.
	EventDelete Event = "delete"
)

// Effect is work a transition asks of the active node's runtime, carried out after raft Apply
// returns and never inside it, by the runtime's one handler per effect; followers record the
// same transition and run nothing. Only work that the commit itself hands to the runtime is an
// effect: what the proposer of a command does itself once it is committed (the lazy start after
// request, the UpdateUser after root_rotate) is not declared here, so that every published
// effect is one the runtime acts on (DeclaredEffects; the engine's test checks each has a
// handler).
type Effect string

// Effects, in the order a transition lists them when it has several.
const (
	// EffectStopProcess: stop the plugin instance (kill its process when nothing else uses
	// it), then report stopped — exactly once per stop, even when nothing was left to kill.
	EffectStopProcess Effect = "stop_process"
	// EffectCloseInstance: close the connection's plugin instance so that its next use
	// initialises it with the stored config (a config write, a reset, a rotation, a rollback,
	// a delete).
	EffectCloseInstance Effect = "close_instance"
	// EffectRunRollback: hand the connection's WAL entry to the rollback manager, which runs it
	// once the entry is older than its minimum age and retries with backoff.
	EffectRunRollback Effect = "run_rollback"
)

// stopEvents are the node-level and connection-level events that take a live plugin instance
// through stopping. They arrive replicated, often broadcast to every instance: where nothing
// runs (idle) or a stop is already under way (stopping, disabling) they are accepted as
// no-ops, so callers need not filter and every node records the same thing.
var stopEvents = []Event{
	EventStepDown, EventSeal, EventShutdown, EventReload,
	EventConnUpdate, EventConnDelete, EventConnReset, EventRootRotate, EventWALRollback,
}

// Teardown events tear a machine down or hand it over: the mount's disable, the connection's
// delete, a seal, a step-down, a shutdown, a failover (DESIGN.md invariant 10). Each is accepted
// in every state of its kind, the terminal one included, where it is a recorded no-op: a
// command that tears down several machines (mount.delete disables the instance, then deletes
// the connection, whose delete reaches the instance as conn_delete) can never be refused
// because an earlier step already ended a machine, and a repeated teardown is a no-op success.
// mustSpec checks the table against these lists.
var (
	pluginTeardown     = []Event{EventDisable, EventConnDelete, EventStepDown, EventSeal, EventShutdown}
	connectionTeardown = []Event{EventDelete, EventFailover}
)

// rule is one row of a transition table: event from any of from goes to to, asking effects.
// effects is shared and never mutated; callers get copies.
type rule struct {
	event   Event
	from    []State
	to      State
	effects []Effect
}

// stay builds the no-op rows (state → same state, no effects) for ev in each of states.
func stay(ev Event, states ...State) []rule {
	rs := make([]rule, 0, len(states))
	for _, s := range states {
		rs = append(rs, rule{event: ev, from: []State{s}, to: s})
	}
	return rs
}

func pluginRules() []rule {
	rs := []rule{
		{EventRequest, []State{StateIdle}, StateStarting, nil},
		{EventStarted, []State{StateStarting}, StateRunning, nil},
		{EventStartFailed, []State{StateStarting}, StateIdle, nil},
		{EventCrashed, []State{StateStarting, StateRunning}, StateIdle, nil},
		{EventStopped, []State{StateStopping}, StateIdle, nil},
		{EventStopped, []State{StateDisabling}, StateDisabled, nil},
		{EventDisable, []State{StateIdle}, StateDisabled, nil},
		{EventDisable, []State{StateStarting, StateRunning}, StateDisabling, []Effect{EffectStopProcess}},
		{EventDisable, []State{StateStopping}, StateDisabling, nil},
	}
	// A request racing another (both saw idle) or arriving while a start is under way joins it.
	rs = append(rs, stay(EventRequest, StateStarting, StateRunning)...)
	rs = append(rs, stay(EventDisable, StateDisabling)...)
	for _, ev := range stopEvents {
		rs = append(rs, rule{ev, []State{StateStarting, StateRunning}, StateStopping, []Effect{EffectStopProcess}})
		rs = append(rs, stay(ev, StateIdle, StateStopping, StateDisabling)...)
	}
	for _, ev := range pluginTeardown {
		rs = append(rs, stay(ev, StateDisabled)...)
	}
	return rs
}

func connectionRules() []rule {
	live := []State{StateConfigured, StateRotating, StateRollbackPending, StateRollingBack}
	rs := []rule{
		{EventUpdate, []State{StateConfigured}, StateConfigured, []Effect{EffectCloseInstance}},
		{EventReset, []State{StateConfigured}, StateConfigured, []Effect{EffectCloseInstance}},
		{EventRootRotate, []State{StateConfigured}, StateRotating, nil},
		{EventRotateSucceeded, []State{StateRotating}, StateConfigured, []Effect{EffectCloseInstance}},
		{EventRotateFailed, []State{StateRotating}, StateRollbackPending, []Effect{EffectRunRollback}},
		{EventFailover, []State{StateRotating, StateRollingBack}, StateRollbackPending, []Effect{EffectRunRollback}},
		{EventRollbackStarted, []State{StateRollbackPending}, StateRollingBack, nil},
		{EventRollbackSucceeded, []State{StateRollingBack}, StateConfigured, []Effect{EffectCloseInstance}},
		{EventRollbackFailed, []State{StateRollingBack}, StateRollbackPending, []Effect{EffectRunRollback}},
		{EventDelete, live, StateDeleted, []Effect{EffectCloseInstance}},
	}
	// failover is broadcast to every connection after a leadership change; where nothing is in
	// flight it is a no-op (the new leader's rollback manager scans its WAL anyway).
	rs = append(rs, stay(EventFailover, StateConfigured, StateRollbackPending)...)
	for _, ev := range connectionTeardown {
		rs = append(rs, stay(ev, StateDeleted)...)
	}
	return rs
}

// key addresses a table row.
type key struct {
	from  State
	event Event
}

// spec is one kind's table plus everything derived from it once, at package init, and then
// shared read-only by every machine of that kind.
type spec struct {
	kind     Kind
	initial  State
	states   []State // declaration order: the order of States, error messages and docs
	terminal map[State]bool
	events   []Event // declaration order
	teardown []Event // accepted in every state; no-ops in the terminal one
	rules    []rule

	descs   looplab.Events // what the looplab machine of this kind is built from
	byKey   map[key]*rule
	accepts map[State][]Event // per state, in events order
	isState map[State]bool
	isEvent map[Event]bool
	diagram string

	// runner is the kind's one looplab machine, built once and driven for every Machine of the
	// kind (SetState to the machine's state, then Event). A looplab FSM per Machine would cost
	// ~15 µs and ~15 KiB of maps each (measured), for a table that never differs; runMu
	// serialises its use, which costs nothing on the single Apply goroutine.
	runMu  sync.Mutex
	runner *looplab.FSM
}

var specs = map[Kind]*spec{
	KindPlugin: mustSpec(KindPlugin, StateIdle,
		[]State{StateIdle, StateStarting, StateRunning, StateStopping, StateDisabling, StateDisabled},
		[]State{StateDisabled},
		append([]Event{EventRequest, EventStarted, EventStartFailed, EventCrashed, EventStopped, EventDisable}, stopEvents...),
		pluginTeardown, pluginRules()),
	KindConnection: mustSpec(KindConnection, StateConfigured,
		[]State{StateConfigured, StateRotating, StateRollbackPending, StateRollingBack, StateDeleted},
		[]State{StateDeleted},
		[]Event{EventUpdate, EventReset, EventRootRotate, EventRotateSucceeded, EventRotateFailed,
			EventFailover, EventRollbackStarted, EventRollbackSucceeded, EventRollbackFailed, EventDelete},
		connectionTeardown, connectionRules()),
}

// kinds is the order Kinds returns.
var kinds = []Kind{KindPlugin, KindConnection}

// mustSpec derives a spec and checks the table is well formed; a malformed table is a
// programming error caught at package init (and so by every test run), hence the panic.
func mustSpec(kind Kind, initial State, states, terminal []State, events, teardown []Event, rules []rule) *spec {
	s := &spec{
		kind: kind, initial: initial, states: states, events: events, teardown: teardown, rules: rules,
		terminal: map[State]bool{},
		byKey:    map[key]*rule{},
		accepts:  map[State][]Event{},
		isState:  map[State]bool{},
		isEvent:  map[Event]bool{},
	}
	for _, st := range states {
		s.isState[st] = true
	}
	for _, st := range terminal {
		s.terminal[st] = true
	}
	for _, ev := range events {
		s.isEvent[ev] = true
	}
	if !s.isState[initial] {
		panic(fmt.Sprintf("fsm: %s: initial state %q not declared", kind, initial))
	}
	for i := range rules {
		r := &rules[i]
		if !s.isEvent[r.event] || !s.isState[r.to] {
			panic(fmt.Sprintf("fsm: %s: rule %q → %q uses an undeclared name", kind, r.event, r.to))
		}
		src := make([]string, 0, len(r.from))
		for _, from := range r.from {
			k := key{from, r.event}
			if !s.isState[from] || s.byKey[k] != nil {
				panic(fmt.Sprintf("fsm: %s: rule %q from %q undeclared or duplicated", kind, r.event, from))
			}
			// A terminal state is never left and runs nothing: only teardown no-ops start there.
			if s.terminal[from] && (r.to != from || len(r.effects) > 0 || !slices.Contains(teardown, r.event)) {
				panic(fmt.Sprintf("fsm: %s: rule %q leaves terminal %q or is not a teardown no-op", kind, r.event, from))
			}
			s.byKey[k] = r
			src = append(src, string(from))
		}
		s.descs = append(s.descs, looplab.EventDesc{Name: string(r.event), Src: src, Dst: string(r.to)})
	}
	for _, st := range states {
		for _, ev := range events {
			if s.byKey[key{st, ev}] != nil {
				s.accepts[st] = append(s.accepts[st], ev)
			}
		}
		for _, ev := range teardown {
			if s.byKey[key{st, ev}] == nil {
				panic(fmt.Sprintf("fsm: %s: teardown event %q is refused in %q", kind, ev, st))
			}
		}
	}
	s.diagram = s.buildDiagram()
	s.runner = s.newFSM(initial)
	return s
}

// run moves the kind's looplab machine from from by ev and says where it ended. The caller has
// checked the row exists. Background, never a cancellable context: a cancelled one would leave
// looplab stuck in a transition for ever. A no-op row (from == to) comes back as
// NoTransitionError, which is success.
func (s *spec) run(from State, ev Event) (State, error) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	s.runner.SetState(string(from))
	if err := s.runner.Event(context.Background(), string(ev)); err != nil {
		var nt looplab.NoTransitionError
		if !errors.As(err, &nt) || nt.Err != nil {
			return from, err
		}
	}
	return State(s.runner.Current()), nil
}

// buildDiagram renders the table through looplab's own Mermaid visualiser (from a machine in
// the initial state, so it opens with "[*] --> initial") and adds the terminal states' exits.
func (s *spec) buildDiagram() string {
	d, err := looplab.VisualizeForMermaidWithGraphType(s.newFSM(s.initial), looplab.StateDiagram)
	if err != nil {
		panic(fmt.Sprintf("fsm: %s: diagram: %v", s.kind, err))
	}
	var b strings.Builder
	b.WriteString(d)
	for _, st := range s.states {
		if s.terminal[st] {
			fmt.Fprintf(&b, "    %s --> [*]\n", st)
		}
	}
	return b.String()
}

// newFSM builds a looplab machine from the precomputed event list. No callbacks: the effects
// come from our own table, so there is no callback name to misspell and nothing that could
// call back into the machine (a deadlock from before/leave callbacks).
func (s *spec) newFSM(current State) *looplab.FSM {
	return looplab.NewFSM(string(current), s.descs, nil)
}

// Kinds lists the machine kinds.
func Kinds() []Kind { return slices.Clone(kinds) }

// Events lists the events of kind in a stable order; nil for an unknown kind.
func Events(kind Kind) []Event {
	if s := specs[kind]; s != nil {
		return slices.Clone(s.events)
	}
	return nil
}

// States lists the states of kind in a stable order, the initial one first; nil for an unknown
// kind.
func States(kind Kind) []State {
	if s := specs[kind]; s != nil {
		return slices.Clone(s.states)
	}
	return nil
}

// Accepts lists the events kind accepts in state, in the order of Events (for a terminal
// state, only its teardown no-ops); nil for an unknown state. The API shows it next to a
// refusal.
func Accepts(kind Kind, state State) []Event {
	if s := specs[kind]; s != nil {
		return slices.Clone(s.accepts[state])
	}
	return nil
}

// Terminal reports whether state is terminal for kind: a machine there never leaves it and
// asks for no work; it accepts only its kind's Teardown events, as no-ops, and refuses every
// other event. The replicated state may drop it once its last transition was published.
func Terminal(kind Kind, state State) bool {
	s := specs[kind]
	return s != nil && s.terminal[state]
}

// DeclaredEffects lists every effect some transition of some kind declares, walking the
// tables (kinds in Kinds order, rows in table order, each effect once). The runtime must carry
// out each of them.
func DeclaredEffects() []Effect {
	var out []Effect
	for _, k := range kinds {
		for _, r := range specs[k].rules {
			for _, eff := range r.effects {
				if !slices.Contains(out, eff) {
					out = append(out, eff)
				}
			}
		}
	}
	return out
}

// Teardown lists the events of kind that tear a machine down or hand it over (disable,
// conn_delete, step_down, seal, shutdown for a plugin instance; delete, failover for a
// connection). Every state accepts each of them, the terminal state as a no-op, so a teardown
// always succeeds and may be repeated. nil for an unknown kind.
func Teardown(kind Kind) []Event {
	if s := specs[kind]; s != nil {
		return slices.Clone(s.teardown)
	}
	return nil
}

// Diagram is kind's machine as a Mermaid stateDiagram-v2, rendered from the table the machines
// run on, so it cannot drift from the code; "" for an unknown kind.
func Diagram(kind Kind) string {
	if s := specs[kind]; s != nil {
		return s.diagram
	}
	return ""
}

// InstanceEvent names the event to fire on a connection's bound plugin instance, in the same
// Apply, when the connection takes connEvent; false when the instance is not concerned. It
// keeps the two machines in step: the connection asks to close its instance, the instance
// goes through stopping.
func InstanceEvent(connEvent Event) (Event, bool) {
	switch connEvent {
	case EventUpdate:
		return EventConnUpdate, true
	case EventReset:
		return EventConnReset, true
	case EventDelete:
		return EventConnDelete, true
	case EventRotateSucceeded:
		return EventRootRotate, true
	case EventRollbackSucceeded:
		return EventWALRollback, true
	}
	return "", false
}
