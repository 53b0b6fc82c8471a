package fsm

import "testing"

// TestDeclaredEffects: DeclaredEffects is exactly the set of effects the hand-written table
// of expected outcomes (want) asks for, so the engine's handler check walks the real table.
func TestDeclaredEffects(t *testing.T) {
	wantSet := map[Effect]bool{}
	for _, states := range want {
		for _, evs := range states {
			for _, o := range evs {
				for _, eff := range o.effects {
					wantSet[eff] = true
				}
			}
		}
	}
	got := DeclaredEffects()
	gotSet := map[Effect]bool{}
	for _, eff := range got {
		if gotSet[eff] {
			t.Errorf("DeclaredEffects lists %q twice", eff)
		}
		gotSet[eff] = true
	}
	if len(gotSet) != len(wantSet) {
		t.Errorf("DeclaredEffects() = %v, want the set %v", got, wantSet)
	}
	for eff := range wantSet {
		if !gotSet[eff] {
			t.Errorf("DeclaredEffects() lacks %q", eff)
		}
	}
}
