package raftstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/baton-hq/baton/raftstore/command"
)

// Dispatcher is the replicated state behind the Raft log. raftstore owns this interface because
// it is the one calling it; the state package implements it.
//
// Apply and Snapshot are called from raft's single FSM goroutine, never concurrently with each
// other; Restore is called with nothing else running. Apply must be deterministic: the same
// commands in the same order give the same state on every node.
type Dispatcher interface {
	// Apply applies one committed command at the given Raft index and returns its result, which
	// the proposing node's Store.Apply hands back (an error value is a business refusal).
	Apply(index uint64, c *command.Command) any
	// Snapshot returns the whole state, serialised. It runs in the FSM goroutine, so Apply waits
	// for it: keep it to a copy.
	Snapshot() ([]byte, error)
	// Restore replaces the whole state with what Snapshot wrote.
	Restore(r io.Reader) error
}

// snapshotMagic starts every snapshot this package writes; the applied index that follows lets
// a restored node report AppliedIndex for the dispatcher's state exactly (raft's own applied
// index also counts no-op and configuration entries, and runs ahead of the FSM).
var snapshotMagic = [8]byte{'b', 'a', 't', 'o', 'n', 'r', 's', 1}

const snapshotHeaderLen = len(snapshotMagic) + 8

// fsm is the thin raft.FSM: it decodes log entries and hands them to the Dispatcher.
type fsm struct {
	d       Dispatcher
	log     hclog.Logger
	applied atomic.Uint64 // index of the last command handed to the dispatcher (or restored)
	// prepared is a snapshot body RestoreSnapshot has decoded already (see Preparer).
	prepared atomic.Pointer[preparedBody]
}

// Preparer is a Dispatcher that can take a snapshot body decoded ahead of a restore:
// RestoreSnapshot's check decodes the whole body anyway (raft panics when the FSM's restore
// fails), and handing the result over spares a second decode of the same bytes.
type Preparer interface {
	// RestorePrepared replaces the state with v, a value the restore's check decoded.
	RestorePrepared(v any) error
}

// preparedBody is a decoded snapshot body and the SHA-256 of its bytes.
type preparedBody struct {
	sum [sha256.Size]byte
	v   any
}

var _ raft.FSM = (*fsm)(nil)

// Apply decodes a committed entry and dispatches it. An entry that does not decode was never
// proposed by Store.Apply (which only proposes encoded commands), so no caller was told it
// took effect: it is refused, the same way on every node (the state does not move, so the
// nodes do not diverge), logged, and answered with ErrMalformedEntry. Panicking instead would
// stop the node on every restart, since raft replays the entry each time.
func (f *fsm) Apply(l *raft.Log) any {
	c, err := command.Unmarshal(l.Data)
	if err != nil {
		if f.log != nil {
			f.log.Error("refused a log entry that does not decode", "index", l.Index, "term", l.Term, "error", err)
		}
		return fmt.Errorf("%w: entry %d (term %d): %w", ErrMalformedEntry, l.Index, l.Term, err)
	}
	resp := f.d.Apply(l.Index, c)
	f.applied.Store(l.Index)
	return resp
}

// Snapshot takes the dispatcher's bytes now, in the FSM goroutine, so they match the index
// raft records for this snapshot; writing them to disk happens later in Persist.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	b, err := f.d.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("raftstore: dispatcher snapshot: %w", err)
	}
	return &fsmSnapshot{index: f.applied.Load(), data: b}, nil
}

// Restore reads the header Persist wrote and hands the rest to the dispatcher.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var hdr [snapshotHeaderLen]byte
	if _, err := io.ReadFull(rc, hdr[:]); err != nil {
		return fmt.Errorf("raftstore: restore: read snapshot header: %w", err)
	}
	if !bytes.Equal(hdr[:len(snapshotMagic)], snapshotMagic[:]) {
		return fmt.Errorf("raftstore: restore: snapshot was not written by raftstore (bad header %x)", hdr[:len(snapshotMagic)])
	}
	if err := f.restoreBody(rc); err != nil {
		return fmt.Errorf("raftstore: restore: dispatcher: %w", err)
	}
	f.applied.Store(binary.BigEndian.Uint64(hdr[len(snapshotMagic):]))
	return nil
}

// restoreBody hands the body to the dispatcher: the value RestoreSnapshot prepared when the
// bytes are the ones it decoded (the same SHA-256), otherwise the bytes to decode.
func (f *fsm) restoreBody(r io.Reader) error {
	p := f.prepared.Swap(nil)
	pr, ok := f.d.(Preparer)
	if p == nil || !ok {
		return f.d.Restore(r)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if sha256.Sum256(body) == p.sum {
		return pr.RestorePrepared(p.v)
	}
	return f.d.Restore(bytes.NewReader(body))
}

// fsmSnapshot holds the bytes taken in the FSM goroutine until raft persists them.
type fsmSnapshot struct {
	index uint64
	data  []byte
}

// Persist writes the header and the dispatcher's bytes to the sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	var hdr [snapshotHeaderLen]byte
	copy(hdr[:], snapshotMagic[:])
	binary.BigEndian.PutUint64(hdr[len(snapshotMagic):], s.index)
	if _, err := sink.Write(hdr[:]); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftstore: persist snapshot header: %w", err)
	}
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftstore: persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("raftstore: close snapshot: %w", err)
	}
	return nil
}

// Release drops the bytes; nothing else is held.
func (s *fsmSnapshot) Release() { s.data = nil }
