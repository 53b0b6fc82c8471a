package runtime

import (
	"slices"
	"testing"

	"github.com/baton-hq/baton/fsm"
)

// TestEveryDeclaredEffectHasAHandler walks the transition table (fsm.DeclaredEffects) and
// asserts the runtime carries out every effect it can declare, and has no handler for an
// effect the table never declares (issue 9 item 6: start_process, reinitialize and rotate_root
// were published on every request, config write, reset and rotation, and nothing acted on them).
func TestEveryDeclaredEffectHasAHandler(t *testing.T) {
	declared := fsm.DeclaredEffects()
	if len(declared) == 0 {
		t.Fatal("the table declares no effect: the walk found nothing")
	}
	handled := HandledEffects()
	for _, eff := range declared {
		if !slices.Contains(handled, eff) {
			t.Errorf("the table declares %q; the runtime has no handler for it", eff)
		}
	}
	for _, eff := range handled {
		if !slices.Contains(declared, eff) {
			t.Errorf("the runtime handles %q, which no transition declares", eff)
		}
	}
}
