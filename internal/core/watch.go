package core

import (
	"errors"
	"sync"

	"github.com/baton-hq/baton/fsm"
)

// ErrWatchTooSlow ends a lifecycle watch whose reader fell behind: its buffer was full when a
// transition was applied, and Apply never waits for a reader.
var ErrWatchTooSlow = errors.New("lifecycle watch dropped: the reader fell behind")

// DefaultWatchBuffer is the per-subscriber buffer sys/lifecycle?stream=true asks for.
const DefaultWatchBuffer = 256

// LifecycleWatch is one subscriber to this node's applied transitions. C is closed when the
// watch ends: Close was called, or the watch was dropped for being too slow (Err then says so).
type LifecycleWatch struct {
	// C delivers the transitions applied after the watch opened, in Raft order.
	C <-chan fsm.Transition

	c       chan fsm.Transition
	hub     *WatchHub
	dropped bool // guarded by hub.mu
}

// Err is ErrWatchTooSlow once the watch was dropped, nil otherwise.
func (w *LifecycleWatch) Err() error {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	if w.dropped {
		return ErrWatchTooSlow
	}
	return nil
}

// Close ends the watch; it is safe to call more than once and after a drop.
func (w *LifecycleWatch) Close() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	if _, ok := w.hub.subs[w]; ok {
		delete(w.hub.subs, w)
		close(w.c)
	}
}

// WatchHub fans observed transitions out to watches. Publish runs on Raft's apply goroutine,
// so it never blocks: a watch whose buffer is full is dropped, not waited for. The zero value
// is ready to use.
type WatchHub struct {
	mu   sync.Mutex
	subs map[*LifecycleWatch]struct{}
}

// Subscribe opens a watch with room for buffer transitions (at least 1).
func (h *WatchHub) Subscribe(buffer int) *LifecycleWatch {
	if buffer < 1 {
		buffer = 1
	}
	c := make(chan fsm.Transition, buffer)
	w := &LifecycleWatch{C: c, c: c, hub: h}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[*LifecycleWatch]struct{}{}
	}
	h.subs[w] = struct{}{}
	h.mu.Unlock()
	return w
}

// Watching is how many watches are open.
func (h *WatchHub) Watching() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Publish hands ts to every watch, dropping those that cannot take them all.
func (h *WatchHub) Publish(ts []fsm.Transition) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs {
		for _, t := range ts {
			select {
			case w.c <- t:
				continue
			default:
			}
			w.dropped = true
			delete(h.subs, w)
			close(w.c)
			break
		}
	}
}

// WatchLifecycle subscribes to the transitions this node applies from now on (every node,
// active or standby, sees every transition). buffer bounds what may wait for the reader; a
// reader that lets it fill is dropped. The caller must Close the watch.
func (n *Node) WatchLifecycle(buffer int) *LifecycleWatch {
	return n.watchers.Subscribe(buffer)
}
