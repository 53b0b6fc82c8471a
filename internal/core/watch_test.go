package core

import (
	"errors"
	"testing"

	"github.com/baton-hq/baton/fsm"
)

// TestWatchHub checks the fan-out: every watch gets every transition in order, a watch
// whose buffer fills is dropped (its channel closed after what it had, Err set) while the
// others go on, Publish never waits, and Close is idempotent.
func TestWatchHub(t *testing.T) {
	var h WatchHub
	slow, fast := h.Subscribe(2), h.Subscribe(8)
	ts := []fsm.Transition{{ID: "a", Index: 1}, {ID: "a", Index: 2}, {ID: "a", Index: 3}}
	h.Publish(ts) // returns although slow cannot take all three
	var got []uint64
	for tr := range slow.C {
		got = append(got, tr.Index)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("slow watch got %v, want [1 2] then closed", got)
	}
	if !errors.Is(slow.Err(), ErrWatchTooSlow) {
		t.Errorf("slow watch Err = %v", slow.Err())
	}
	if h.Watching() != 1 || fast.Err() != nil {
		t.Fatalf("watching %d, fast Err %v: the fast watch should stay", h.Watching(), fast.Err())
	}
	for i := range 3 {
		if tr := <-fast.C; tr.Index != uint64(i+1) {
			t.Errorf("fast watch got %d at %d", tr.Index, i)
		}
	}
	fast.Close()
	fast.Close()
	slow.Close()
	h.Publish(ts) // no watch left: nothing to send on a closed channel
	if _, open := <-fast.C; open || fast.Err() != nil || h.Watching() != 0 {
		t.Errorf("closed watch: open %v, Err %v, watching %d", open, fast.Err(), h.Watching())
	}
	if w := h.Subscribe(0); cap(w.c) != 1 {
		t.Errorf("buffer 0 gave capacity %d, want 1", cap(w.c))
	}
}
