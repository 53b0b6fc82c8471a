package rollback

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/baton-hq/baton/wal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memStore is a WAL table behind the Store seam.
type memStore struct {
	mu      sync.Mutex
	tab     *wal.Table
	deleted []string
	failed  []string
}

// put adds an entry under the lock, since the manager may be scanning.
func (s *memStore) put(e wal.Entry) error { s.mu.Lock(); defer s.mu.Unlock(); return s.tab.Put(e) }

func (s *memStore) Entries() []wal.Entry { s.mu.Lock(); defer s.mu.Unlock(); return s.tab.List() }
func (s *memStore) Delete(_ context.Context, e wal.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tab.Delete(e.ID)
	s.deleted = append(s.deleted, e.ID)
	return nil
}
func (s *memStore) Failed(_ context.Context, e wal.Entry, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = append(s.failed, e.ID)
	return s.tab.RecordFailure(e.ID, reason)
}

func TestScan(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := &memStore{tab: wal.NewTable()}
	put := func(id string, age time.Duration, kind wal.Kind) {
		if err := store.tab.Put(wal.Entry{ID: id, Kind: kind, Created: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	put("young", 10*time.Second, wal.KindRootRotation)
	put("old-ok", 2*time.Minute, wal.KindRootRotation)
	put("old-fails", 3*time.Minute, wal.KindRootRotation)
	put("unknown-kind", 3*time.Minute, "mystery")

	failing := true
	clock := now
	m, err := New(Config{
		Store: store,
		Handlers: map[wal.Kind]Handler{wal.KindRootRotation: func(_ context.Context, e wal.Entry) error {
			if e.ID == "old-fails" && failing {
				return errors.New("database unreachable")
			}
			return nil
		}},
		MinAge: time.Minute,
		Now:    func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := m.Scan(context.Background()); n != 1 {
		t.Fatalf("first scan rolled back %d, want 1 (old-ok)", n)
	}
	if _, err := store.tab.Get("young"); err != nil {
		t.Fatal("an entry younger than the minimum age was handled")
	}
	if _, err := store.tab.Get("old-fails"); err != nil {
		t.Fatal("a failing entry was deleted")
	}
	if _, err := store.tab.Get("unknown-kind"); err != nil {
		t.Fatal("an entry without a handler was deleted")
	}
	e, _ := store.tab.Get("old-fails")
	if e.Attempts != 1 || e.LastError != "database unreachable" {
		t.Fatalf("failure not recorded: %+v", e)
	}
	// Within the backoff nothing is retried.
	if m.Scan(context.Background()); len(store.failed) != 2 {
		t.Fatalf("retried inside the backoff: %v", store.failed)
	}
	// After the backoff, the handler runs again; once it succeeds the entry goes.
	failing = false
	clock = clock.Add(2 * time.Second)
	if n := m.Scan(context.Background()); n != 1 {
		t.Fatalf("retry after backoff rolled back %d", n)
	}
	if _, err := store.tab.Get("old-fails"); err == nil {
		t.Fatal("entry kept after its handler succeeded")
	}
	// The young entry comes of age.
	clock = clock.Add(time.Minute)
	if n := m.Scan(context.Background()); n != 1 {
		t.Fatalf("young entry not handled once old: %d", n)
	}
}

func TestRunKick(t *testing.T) {
	store := &memStore{tab: wal.NewTable()}
	ran := make(chan string, 4)
	m, err := New(Config{
		Store:    store,
		Handlers: map[wal.Kind]Handler{wal.KindRootRotation: func(_ context.Context, e wal.Entry) error { ran <- e.ID; return nil }},
		MinAge:   time.Nanosecond,
		Period:   time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if err := store.put(wal.Entry{ID: "w", Kind: wal.KindRootRotation, Created: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	// The first scan may have run before the entry existed; a kick makes the next one now.
	deadline := time.After(10 * time.Second)
	for {
		m.Kick()
		select {
		case id := <-ran:
			if id != "w" {
				t.Fatalf("ran %q", id)
			}
			return
		case <-deadline:
			t.Fatal("kick did not run a scan")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("no store accepted")
	}
	if _, err := New(Config{Store: &memStore{tab: wal.NewTable()}, MinAge: -1}); err == nil {
		t.Fatal("negative min age accepted")
	}
}

// TestEarlyResolution covers the fast path: an entry Due answers true for is handled at once,
// whatever its age; a handler's NotYet is no failure (nothing recorded, no backoff) and the
// entry is asked again at the time it named, not a minimum age later.
func TestEarlyResolution(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name      string
		due       bool
		answer    func(clock time.Time) error
		wantDone  int
		wantFails int
		after     time.Duration // clock advance before a second scan
		wantLater int           // handled by the second scan
	}{
		{name: "abandoned entry resolved at once", due: true, answer: func(time.Time) error { return nil }, wantDone: 1},
		{name: "entry in flight waits for its minimum age", due: false, answer: func(time.Time) error { return nil },
			after: 2 * time.Second, wantLater: 0},
		{name: "not yet is asked again at its time", due: true,
			answer: func(clock time.Time) error {
				if clock.Before(now.Add(5 * time.Second)) {
					return NotYet(now.Add(5*time.Second), "old leader may have a call in flight")
				}
				return nil
			}, after: 5 * time.Second, wantLater: 1},
		{name: "a failure stays a failure", due: true, answer: func(time.Time) error { return errors.New("neither password logs in") },
			wantFails: 1, after: 500 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := &memStore{tab: wal.NewTable()}
			if err := store.tab.Put(wal.Entry{ID: "w", Kind: wal.KindRootRotation, Created: now.Add(-time.Second)}); err != nil {
				t.Fatal(err)
			}
			clock := now
			m, err := New(Config{
				Store:    store,
				Handlers: map[wal.Kind]Handler{wal.KindRootRotation: func(context.Context, wal.Entry) error { return tc.answer(clock) }},
				MinAge:   time.Minute,
				Due:      func(wal.Entry) bool { return tc.due },
				Now:      func() time.Time { return clock },
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := m.Scan(context.Background()); n != tc.wantDone {
				t.Fatalf("first scan resolved %d, want %d", n, tc.wantDone)
			}
			if len(store.failed) != tc.wantFails {
				t.Fatalf("failures recorded %v, want %d", store.failed, tc.wantFails)
			}
			if tc.after == 0 {
				return
			}
			clock = clock.Add(tc.after)
			if n := m.Scan(context.Background()); n != tc.wantLater {
				t.Fatalf("second scan resolved %d, want %d", n, tc.wantLater)
			}
			if len(store.failed) != tc.wantFails {
				t.Fatalf("a second attempt inside the backoff or a NotYet was recorded as failed: %v", store.failed)
			}
		})
	}
}

// TestRunWakesForNotYet: Run asks again when a NotYet falls due, not a period later.
func TestRunWakesForNotYet(t *testing.T) {
	store := &memStore{tab: wal.NewTable()}
	if err := store.tab.Put(wal.Entry{ID: "w", Kind: wal.KindRootRotation, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(100 * time.Millisecond)
	ran := make(chan struct{}, 1)
	m, err := New(Config{
		Store: store,
		Handlers: map[wal.Kind]Handler{wal.KindRootRotation: func(context.Context, wal.Entry) error {
			if time.Now().Before(until) {
				return NotYet(until, "window")
			}
			ran <- struct{}{}
			return nil
		}},
		MinAge: time.Hour,
		Period: time.Hour,
		Due:    func(wal.Entry) bool { return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("the entry was not asked again after its NotYet (the period is an hour)")
	}
}
