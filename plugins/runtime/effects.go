package runtime

import (
	"context"
	"slices"

	"github.com/baton-hq/baton/fsm"
)

// effectHandler carries out one effect of a committed transition on the active node.
type effectHandler func(r *Runtime, ctx context.Context, t fsm.Transition)

// effectHandlers is the one place the runtime acts on the effects the transition table
// declares (fsm.DeclaredEffects): Effects dispatches through it and nothing else reads a
// transition's effects. Every declared effect has its entry (TestEveryDeclaredEffectHasAHandler);
// work that the proposer of a command does itself, right after the commit (a lazy start, the
// UpdateUser of a rotation), is not an effect and the table does not declare it.
var effectHandlers = map[fsm.Effect]effectHandler{
	fsm.EffectStopProcess: func(r *Runtime, ctx context.Context, t fsm.Transition) {
		r.closeLive(ctx, t.ID)
		if t.Kind == fsm.KindPlugin {
			// Every stop_process is answered by exactly one stopped, even with nothing to kill.
			r.fire(ctx, t.ID, fsm.EventStopped, "stopped after "+string(t.Event))
		}
	},
	fsm.EffectCloseInstance: func(r *Runtime, ctx context.Context, t fsm.Transition) {
		r.closeLive(ctx, t.ID)
	},
	fsm.EffectRunRollback: func(r *Runtime, _ context.Context, _ fsm.Transition) {
		r.KickRollback()
	},
}

// HandledEffects lists the effects the runtime carries out, sorted.
func HandledEffects() []fsm.Effect {
	out := make([]fsm.Effect, 0, len(effectHandlers))
	for eff := range effectHandlers {
		out = append(out, eff)
	}
	slices.Sort(out)
	return out
}

// Effects carries out committed transitions; part of core.Runtime. An effect without a
// handler is a build error caught by the tests; should one reach a running node all the same,
// it is logged as an error rather than silently skipped.
func (r *Runtime) Effects(ctx context.Context, ts []fsm.Transition) {
	for _, t := range ts {
		for _, eff := range t.Effects {
			h, ok := effectHandlers[eff]
			if !ok {
				r.log.Error("transition asks for an effect this runtime does not carry out",
					"kind", t.Kind, "id", t.ID, "event", t.Event, "effect", eff)
				continue
			}
			h(r, ctx, t)
		}
	}
}
