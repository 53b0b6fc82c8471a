package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Bounds of the instance records' retry: a record whose proposal failed for a reason other
// than the lifecycle refusing it is tried again after a backoff growing to the maximum.
const (
	recordRetryMin = 50 * time.Millisecond
	recordRetryMax = 5 * time.Second
	// recordTimeout bounds one proposal of an instance record.
	recordTimeout = 10 * time.Second
)

// instanceRecord is what the lifecycle has not yet been told about one instance: the pool's
// observations of it since the last record, coalesced. Only their outcome matters to the
// machine (a crash since the last record, then perhaps a lazy restart), so any number of
// observations of one instance folds into one record and nothing is dropped.
type instanceRecord struct {
	// crashed: a process of the instance exited on its own; reason says how.
	crashed bool
	reason  string
	// restarted: the pool started a process for the instance after the crash (if any); pid
	// is that process.
	restarted bool
	pid       int
	// requested: the restart's request is recorded, its started is still owed.
	requested bool
}

// then folds a later record into r: a crash supersedes a restart seen before it (the
// process it started is gone too), a restart after a crash keeps the crash before it.
func (r instanceRecord) then(later instanceRecord) instanceRecord {
	if later.crashed {
		return later
	}
	if later.restarted {
		r.restarted, r.pid = true, later.pid
	}
	return r
}

// instanceQueue holds at most one pending record per instance plus a wake-up: memory is
// bounded by the number of instances, the pool never waits, and the newest observation of an
// instance always reaches the consumer.
type instanceQueue struct {
	mu      sync.Mutex
	pending map[string]instanceRecord
	order   []string // keys of pending, first observed first
	wake    chan struct{}
	// pids is the process each instance was last seen started on (until it stops or
	// crashes): a crash of an older process reported after the restart that replaced it
	// is then put before that restart, not after it.
	pids map[string]int
}

func newInstanceQueue() *instanceQueue {
	return &instanceQueue{pending: map[string]instanceRecord{}, wake: make(chan struct{}, 1), pids: map[string]int{}}
}

// observe turns one of the pool's observations into a record for key.
func (q *instanceQueue) observe(key, kind string, pid int, reason string) {
	q.mu.Lock()
	cur, known := q.pids[key]
	switch kind {
	case plugins.EventCrashed:
		r := instanceRecord{crashed: true, reason: reason}
		if known && pid != 0 && pid != cur {
			// The pool's restart after this crash was seen first (the call that met the
			// dead process can restart it before the process's watcher reports the exit).
			r.restarted, r.pid = true, cur
		} else {
			delete(q.pids, key)
		}
		q.mu.Unlock()
		q.put(key, r)
	case plugins.EventStarted:
		q.pids[key] = pid
		q.mu.Unlock()
		q.put(key, instanceRecord{restarted: true, pid: pid})
	case plugins.EventStopped:
		delete(q.pids, key)
		q.mu.Unlock()
	default:
		q.mu.Unlock()
	}
}

// put folds r into the record pending for key and wakes the consumer.
func (q *instanceQueue) put(key string, r instanceRecord) {
	q.mu.Lock()
	if old, ok := q.pending[key]; ok {
		q.pending[key] = old.then(r)
	} else {
		q.pending[key] = r
		q.order = append(q.order, key)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is already pending; it covers this record too
	}
}

// putBack returns a record the consumer could not deliver, ahead of anything observed for the
// same instance meanwhile (which is later, so it wins where they disagree).
func (q *instanceQueue) putBack(key string, r instanceRecord) {
	q.mu.Lock()
	if later, ok := q.pending[key]; ok {
		q.pending[key] = r.then(later)
	} else {
		q.pending[key] = r
		q.order = append(q.order, key)
	}
	q.mu.Unlock()
}

// takeAll empties the queue, returning its keys in order and their records.
func (q *instanceQueue) takeAll() ([]string, map[string]instanceRecord) {
	q.mu.Lock()
	defer q.mu.Unlock()
	keys, recs := q.order, q.pending
	q.order, q.pending = nil, map[string]instanceRecord{}
	return keys, recs
}

// Observe receives the pool's instance events (its Config.Observer). It never blocks and never
// drops: each instance's observations are coalesced into one pending record that one goroutine
// records on its lifecycle machine.
func (r *Runtime) Observe(ev plugins.InstanceEvent) {
	if ev.ConnID == "" || isTemp(ev.ConnID) {
		return
	}
	// The connection stays live after a crash: the pool starts a new process for it on its
	// next call and retries that call once. Starts, failed starts and stops the runtime asked
	// for are recorded by the runtime itself (start, Effects); only what happens on the pool's
	// own is recorded from here.
	reason := "plugin process exited"
	if ev.Err != nil {
		reason = "plugin process exited: " + ev.Err.Error()
	}
	r.instances.observe(ev.ConnID, ev.Kind, ev.PID, reason)
}

// instanceLoop records crashes and the pool's own restarts on the lifecycle machines. A record
// whose proposal fails is kept and tried again with backoff while the node is active.
func (r *Runtime) instanceLoop() {
	defer r.wg.Done()
	backoff := time.Duration(0)
	for {
		var retry *time.Timer
		var retryC <-chan time.Time
		if backoff > 0 {
			retry = time.NewTimer(backoff)
			retryC = retry.C
		}
		select {
		case <-r.stop:
		case <-r.instances.wake:
		case <-retryC:
		}
		if retry != nil {
			retry.Stop()
		}
		select {
		case <-r.stop:
			// Whatever is pending stays undelivered: the node's next activation reconciles
			// every instance from the replicated state.
			return
		default:
		}
		failed := false
		keys, recs := r.instances.takeAll()
		for _, key := range keys {
			if rest, done := r.deliver(key, recs[key]); !done {
				r.instances.putBack(key, rest)
				failed = true
			}
		}
		switch {
		case !failed:
			backoff = 0
		case backoff == 0:
			backoff = recordRetryMin
		default:
			backoff = min(2*backoff, recordRetryMax)
		}
	}
}

// deliver records rec on key's plugin machine. It reports false, with what is left of rec, when a
// proposal failed and is worth trying again. A refusal by the lifecycle ends only that step
// (the machine has moved on: the crash is recorded already, the instance was stopped or its
// connection deleted); a node that is no longer active drops the record: the next active node
// records every instance the old one ran as crashed and starts it again, and a record kept for
// a later term would be stale there.
func (r *Runtime) deliver(key string, rec instanceRecord) (instanceRecord, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if rec.crashed {
		if err := r.record(ctx, key, fsm.EventCrashed, rec.reason); err != nil {
			switch r.recordFailed(key, fsm.EventCrashed, err) {
			case recordRetry:
				return rec, false
			case recordDrop:
				return instanceRecord{}, true
			}
		}
		rec.crashed = false
	}
	// A lazy restart inside the pool: record it when the machine thinks the instance idle
	// (a start the runtime asked for records its own request and started).
	if rec.restarted && !rec.requested {
		if r.machineState(key) != fsm.StateIdle {
			return instanceRecord{}, true
		}
		if err := r.record(ctx, key, fsm.EventRequest, "lazy restart"); err != nil {
			switch r.recordFailed(key, fsm.EventRequest, err) {
			case recordRetry:
				return rec, false
			default:
				return instanceRecord{}, true
			}
		}
		rec.requested = true
	}
	if rec.requested {
		if err := r.record(ctx, key, fsm.EventStarted, fmt.Sprintf("pid %d", rec.pid)); err != nil {
			if r.recordFailed(key, fsm.EventStarted, err) == recordRetry {
				return rec, false
			}
		}
	}
	return instanceRecord{}, true
}

// What to do with an instance record whose proposal failed.
const (
	recordRefused = iota // the lifecycle refused this step: go on with the next
	recordDrop           // this node is no longer active: drop the record
	recordRetry          // try again later
)

// recordFailed logs an instance record whose proposal failed (a refusal at Debug, any other
// failure at Warn with its reason) and says what to do with it.
func (r *Runtime) recordFailed(key string, ev fsm.Event, err error) int {
	if errors.Is(err, state.ErrConflict) || errors.Is(err, state.ErrNotFound) {
		r.log.Debug("plugin instance record refused by its lifecycle", "connection", key, "event", ev, "reason", err)
		return recordRefused
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if verr := r.cluster.VerifyActive(ctx); verr != nil {
		r.log.Warn("plugin instance record not proposed and this node is no longer active; the next active node reconciles the instance",
			"connection", key, "event", ev, "reason", err)
		return recordDrop
	}
	r.log.Warn("plugin instance record not proposed; trying again", "connection", key, "event", ev, "reason", err)
	return recordRetry
}

// record proposes one event on a plugin instance's machine: the one way the runtime records
// what happened to an instance.
func (r *Runtime) record(ctx context.Context, key string, ev fsm.Event, reason string) error {
	_, err := r.cluster.Propose(ctx, state.TypeLifecycleFire, "", command.SourceInternal, state.LifecycleFire{
		Kind: fsm.KindPlugin, ID: key, Event: ev, Reason: reason,
	})
	return err
}
