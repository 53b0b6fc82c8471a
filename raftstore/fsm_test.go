package raftstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/baton-hq/baton/raftstore/command"
)

// TestFSMApplyRefusesUndecodableEntry feeds entries a stranger could have committed (junk, an
// empty entry, an envelope with no id, a newer envelope): each is refused with
// ErrMalformedEntry naming the entry, without a panic (which raft would repeat on every
// restart) and without reaching the dispatcher.
func TestFSMApplyRefusesUndecodableEntry(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"not JSON", []byte{0xff, 0x00, 0x13}},
		{"empty", nil},
		{"no id", []byte(`{"v":1,"type":"put"}`)},
		{"newer envelope", []byte(`{"v":99,"id":"x","type":"put"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDispatcher()
			f := &fsm{d: d, log: testLogger("fsm")}
			var resp any
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Apply panicked: %v", r)
					}
				}()
				resp = f.Apply(&raft.Log{Index: 42, Term: 3, Type: raft.LogCommand, Data: tt.data})
			}()
			err, _ := resp.(error)
			if !errors.Is(err, ErrMalformedEntry) || !strings.Contains(err.Error(), "entry 42") {
				t.Fatalf("Apply answered %v, want ErrMalformedEntry naming entry 42", resp)
			}
			if len(d.appliedIDs()) != 0 || f.applied.Load() != 0 {
				t.Fatal("an undecodable entry reached the dispatcher")
			}
		})
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func TestFSMSnapshotRoundTrip(t *testing.T) {
	src := &fsm{d: newTestDispatcher()}
	for i := uint64(1); i <= 3; i++ {
		b, err := command.Marshal(putCmd(t, fmt.Sprintf("c%d", i), fmt.Sprintf("k%d", i), "v"))
		if err != nil {
			t.Fatal(err)
		}
		src.Apply(&raft.Log{Index: i + 10, Type: raft.LogCommand, Data: b})
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed {
		t.Fatalf("persist: %v (closed %v)", err, sink.closed)
	}
	snap.Release()

	d := newTestDispatcher()
	dst := &fsm{d: d}
	if err := dst.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if got := dst.applied.Load(); got != 13 {
		t.Fatalf("applied index after restore = %d, want 13", got)
	}
	if v, ok := d.get("k3"); !ok || v != "v" || d.restoreCount() != 1 {
		t.Fatalf("restored state lacks k3 (%q, %v) or restores = %d", v, ok, d.restoreCount())
	}

	if err := dst.Restore(io.NopCloser(strings.NewReader(`{"kv":{}}` + "padding..."))); err == nil || !strings.Contains(err.Error(), "not written by raftstore") {
		t.Fatalf("restore of a foreign snapshot: %v, want a header refusal", err)
	}
}
