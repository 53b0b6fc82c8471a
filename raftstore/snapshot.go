package raftstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// ErrBadSnapshot: the bytes handed to RestoreSnapshot are not a snapshot this package wrote, or
// the dispatcher's part does not decode. Nothing was restored.
var ErrBadSnapshot = errors.New("raftstore: not a valid snapshot")

// restoreTimeout bounds RestoreSnapshot when the caller's context has no deadline.
const restoreTimeout = 5 * time.Minute

// UserSnapshot is a snapshot taken on request (sys/storage/raft/snapshot): the Raft index and
// term it stands for and the bytes the FSM persisted (this package's header, then the
// dispatcher's bytes). The bytes are what RestoreSnapshot takes back.
type UserSnapshot struct {
	// Index and Term are raft's for the snapshot.
	Index, Term uint64
	// Data is the persisted FSM snapshot.
	Data []byte
}

// TakeSnapshot has raft take a snapshot now (written to the node's snapshot store like any
// other) and returns its bytes. The snapshot is taken in raft's FSM goroutine, so it is the
// state at exactly Index.
func (s *Store) TakeSnapshot(ctx context.Context) (UserSnapshot, error) {
	if s.closed.Load() {
		return UserSnapshot{}, ErrClosed
	}
	f := s.raft.Snapshot()
	if err := wait(ctx, f); err != nil {
		return UserSnapshot{}, fmt.Errorf("raftstore: take snapshot: %w", s.mapErr(err, false))
	}
	meta, rc, err := f.Open()
	if err != nil {
		return UserSnapshot{}, fmt.Errorf("raftstore: open the snapshot just taken: %w", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return UserSnapshot{}, fmt.Errorf("raftstore: read snapshot %s: %w", meta.ID, err)
	}
	return UserSnapshot{Index: meta.Index, Term: meta.Term, Data: data}, nil
}

// SnapshotBody returns the dispatcher's part of a snapshot's bytes (what Dispatcher.Restore
// reads), after checking the header; ErrBadSnapshot if there is none.
func SnapshotBody(data []byte) ([]byte, error) {
	if len(data) < snapshotHeaderLen || !bytes.Equal(data[:len(snapshotMagic)], snapshotMagic[:]) {
		return nil, fmt.Errorf("%w: the header is missing", ErrBadSnapshot)
	}
	return data[snapshotHeaderLen:], nil
}

// RestoreSnapshot replaces the state on every node with a snapshot taken by TakeSnapshot (on
// this cluster or another one); only the leader can. prepare is handed the dispatcher's part
// first and must fail if the dispatcher could not restore it: raft panics when a user restore's
// FSM restore fails, because the leader's state would then be undefined. What prepare returns
// goes to a Preparer dispatcher in place of decoding the same bytes again. The restore goes
// through raft.Restore, which installs the state here under a new index and sends it to the
// followers by InstallSnapshot (raft's own membership is kept, not the snapshot's).
func (s *Store) RestoreSnapshot(ctx context.Context, data []byte, prepare func(io.Reader) (any, error)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	body, err := SnapshotBody(data)
	if err != nil {
		return err
	}
	v, err := prepare(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	if !s.IsLeader() {
		return fmt.Errorf("raftstore: restore: %w", s.notLeader())
	}
	s.fsm.prepared.Store(&preparedBody{sum: sha256.Sum256(body), v: v})
	defer s.fsm.prepared.Store(nil) // not used (raft failed before the FSM): drop it
	// The header's applied index is this node's last log index: everything up to it is
	// replaced by the snapshot, and raft gives the restore a later index still, so AppliedIndex
	// never runs ahead of what the state holds (and does not go back below what callers have
	// already waited for).
	out := make([]byte, len(data))
	copy(out, data)
	binary.BigEndian.PutUint64(out[len(snapshotMagic):snapshotHeaderLen], s.raft.LastIndex())
	timeout := restoreTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: int64(len(out))}
	if err := s.raft.Restore(meta, bytes.NewReader(out), timeout); err != nil {
		return fmt.Errorf("raftstore: restore: %w", s.mapErr(err, false))
	}
	s.logger.Info("snapshot restored", "bytes", len(out), "applied_index", s.AppliedIndex())
	return nil
}
