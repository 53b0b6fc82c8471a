package wal

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestTable(t *testing.T) {
	tab := NewTable()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := tab.Put(Entry{ID: "b", Kind: KindRootRotation, Index: 7, Created: at}); err != nil {
		t.Fatal(err)
	}
	if err := tab.Put(Entry{ID: "a", Kind: KindRootRotation, Index: 9, Created: at}); err != nil {
		t.Fatal(err)
	}
	// A retried Apply of the same entry is a no-op, not an overwrite.
	if err := tab.Put(Entry{ID: "b", Kind: KindRootRotation, Index: 8}); err != nil {
		t.Fatalf("idempotent put: %v", err)
	}
	if e, _ := tab.Get("b"); e.Index != 7 {
		t.Fatalf("second put overwrote the first: index %d", e.Index)
	}
	if err := tab.Put(Entry{ID: "b", Kind: "other"}); !errors.Is(err, ErrExists) {
		t.Fatalf("put with another kind: %v, want ErrExists", err)
	}
	got := tab.List()
	if len(got) != 2 || got[0].ID != "b" || got[1].ID != "a" {
		t.Fatalf("List not oldest first: %+v", got)
	}
	if err := tab.RecordFailure("a", "login refused"); err != nil {
		t.Fatal(err)
	}
	if e, _ := tab.Get("a"); e.Attempts != 1 || e.LastError != "login refused" {
		t.Fatalf("failure not recorded: %+v", e)
	}
	b, err := json.Marshal(tab)
	if err != nil {
		t.Fatal(err)
	}
	var back Table
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tab, &back) {
		t.Fatalf("JSON round trip changed the table:\n%+v\n%+v", tab, back)
	}
	tab.Delete("a")
	tab.Delete("a")
	if _, err := tab.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
}

func TestPutRefuses(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
	}{
		{"no id", Entry{Kind: KindRootRotation}},
		{"no kind", Entry{ID: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := NewTable().Put(tt.e); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if err := NewTable().RecordFailure("nope", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RecordFailure on absent: %v", err)
	}
}
