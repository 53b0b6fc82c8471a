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
