// Package rollback is the rollback manager: on the active node, periodically and right after
// gaining leadership, it takes each write-ahead entry older than its minimum age and runs the
// handler registered for its kind. An entry is deleted only when its handler succeeded; a
// failing handler is retried with exponential backoff and reported, never dropped.
//
// The minimum age exists because an entry may belong to a rotation still in flight on an old
// leader: waiting longer than any such call can last means the handler never races it. It is
// the safety net, not the normal path: an entry the owner knows to be abandoned (Config.Due)
// is handled at once, and its handler may answer NotYet to be asked again at a set time (for
// example once an old leader can no longer have a call in flight) without that counting as a
// failure.
package rollback

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/wal"
)

// Defaults, as DESIGN.md sets them.
const (
	DefaultPeriod     = time.Minute
	DefaultMinAge     = time.Minute
	DefaultMaxBackoff = 5 * time.Minute
	firstBackoff      = time.Second
)

// Handler repairs what an entry protects. It returns nil only when the entry may be deleted.
type Handler func(ctx context.Context, e wal.Entry) error

// NotYetError is a handler's answer "not safe to decide yet; ask again at Until". It is not a
// failure: no attempt is recorded and the backoff does not grow.
type NotYetError struct {
	Until  time.Time
	Reason string
}

// Error says why the entry waits.
func (e *NotYetError) Error() string {
	return fmt.Sprintf("not yet (until %s): %s", e.Until.UTC().Format(time.RFC3339Nano), e.Reason)
}

// NotYet builds the answer of a handler that must be asked again at until.
func NotYet(until time.Time, reason string) error { return &NotYetError{Until: until, Reason: reason} }

// Store is what the manager needs of the replicated WAL (the active node's view of it).
type Store interface {
	// Entries lists the live entries, oldest first.
	Entries() []wal.Entry
	// Delete removes an entry whose handler succeeded (a Raft commit).
	Delete(ctx context.Context, e wal.Entry) error
	// Failed records a failed attempt on the entry (a Raft commit), for operators to see.
	Failed(ctx context.Context, e wal.Entry, reason string) error
}

// Config configures a Manager.
type Config struct {
	Store    Store
	Handlers map[wal.Kind]Handler
	// Period is how often the manager scans (DefaultPeriod).
	Period time.Duration
	// MinAge is how old an entry must be before it is handled (DefaultMinAge).
	MinAge time.Duration
	// Due, when set, says that an entry younger than MinAge may be handled now: its writer is
	// known to have given it up (a failed call, a leader that is gone). Entries it answers
	// false for wait MinAge, as before.
	Due func(e wal.Entry) bool
	// MaxBackoff caps the wait between failed attempts on one entry (DefaultMaxBackoff).
	MaxBackoff time.Duration
	// Now is the clock (time.Now); tests may set it.
	Now    func() time.Time
	Logger hclog.Logger
}

// Manager runs rollbacks. Run it only on the active node.
type Manager struct {
	cfg  Config
	kick chan struct{}

	mu    sync.Mutex
	retry map[string]retryState
}

type retryState struct {
	next    time.Time
	backoff time.Duration
}

// New builds a manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, errors.New("rollback: a store is required")
	}
	if cfg.Period <= 0 {
		cfg.Period = DefaultPeriod
	}
	if cfg.MinAge < 0 {
		return nil, fmt.Errorf("rollback: min age %s is negative", cfg.MinAge)
	}
	if cfg.MinAge == 0 {
		cfg.MinAge = DefaultMinAge
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Manager{cfg: cfg, kick: make(chan struct{}, 1), retry: map[string]retryState{}}, nil
}

// Kick asks for a scan now (after a failed rotation, or an operator's wal_rollback event).
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run scans at once, then every period, on every Kick, and when a retry or a NotYet entry
// falls due, until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	for {
		m.Scan(ctx)
		wait := m.cfg.Period
		if next, ok := m.nextRetry(); ok {
			wait = min(wait, max(next.Sub(m.cfg.Now()), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-m.kick:
			t.Stop()
		}
	}
}

// nextRetry is the earliest time an entry waiting on a backoff or a NotYet falls due.
func (m *Manager) nextRetry() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, r := range m.retry {
		if next.IsZero() || r.next.Before(next) {
			next = r.next
		}
	}
	return next, !next.IsZero()
}

// Scan handles every due entry once; it returns how many were rolled back and deleted.
func (m *Manager) Scan(ctx context.Context) int {
	done := 0
	now := m.cfg.Now()
	live := map[string]bool{}
	for _, e := range m.cfg.Store.Entries() {
		live[e.ID] = true
		if ctx.Err() != nil {
			return done
		}
		if now.Sub(e.Created) < m.cfg.MinAge && (m.cfg.Due == nil || !m.cfg.Due(e)) {
			continue
		}
		m.mu.Lock()
		r := m.retry[e.ID]
		m.mu.Unlock()
		if now.Before(r.next) {
			continue
		}
		if err := m.handle(ctx, e); err != nil {
			var ny *NotYetError
			if errors.As(err, &ny) {
				m.mu.Lock()
				m.retry[e.ID] = retryState{next: ny.Until, backoff: r.backoff}
				m.mu.Unlock()
				m.cfg.Logger.Debug("rollback waits", "wal", e.ID, "kind", e.Kind, "target", e.Target, "until", ny.Until, "reason", ny.Reason)
				continue
			}
			m.fail(ctx, e, r, now, err)
			continue
		}
		m.mu.Lock()
		delete(m.retry, e.ID)
		m.mu.Unlock()
		done++
	}
	m.mu.Lock()
	for id := range m.retry {
		if !live[id] {
			delete(m.retry, id)
		}
	}
	m.mu.Unlock()
	return done
}

func (m *Manager) handle(ctx context.Context, e wal.Entry) error {
	h, ok := m.cfg.Handlers[e.Kind]
	if !ok {
		return fmt.Errorf("no rollback handler for kind %q", e.Kind)
	}
	if err := h(ctx, e); err != nil {
		return err
	}
	if err := m.cfg.Store.Delete(ctx, e); err != nil {
		return fmt.Errorf("delete WAL entry after a successful rollback: %w", err)
	}
	m.cfg.Logger.Info("rolled back", "wal", e.ID, "kind", e.Kind, "target", e.Target)
	return nil
}

func (m *Manager) fail(ctx context.Context, e wal.Entry, r retryState, now time.Time, err error) {
	b := r.backoff * 2
	if b == 0 {
		b = firstBackoff
	}
	if b > m.cfg.MaxBackoff {
		b = m.cfg.MaxBackoff
	}
	m.mu.Lock()
	m.retry[e.ID] = retryState{next: now.Add(b), backoff: b}
	m.mu.Unlock()
	m.cfg.Logger.Warn("rollback failed; will retry", "wal", e.ID, "kind", e.Kind, "target", e.Target,
		"attempt", e.Attempts+1, "retry_in", b, "error", err)
	if ferr := m.cfg.Store.Failed(ctx, e, err.Error()); ferr != nil && ctx.Err() == nil {
		m.cfg.Logger.Warn("recording a failed rollback", "wal", e.ID, "error", ferr)
	}
}
