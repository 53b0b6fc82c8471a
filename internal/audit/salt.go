package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Cluster is what StateSalts needs of the node: the barrier that seals the salts, proposing
// through Raft, and the replicated state. *core.Node implements it.
type Cluster interface {
	// Barrier seals and opens the salts.
	Barrier() *barrier.Barrier
	// Propose commits a new salt through Raft (on the active node).
	Propose(ctx context.Context, typ command.Type, id string, source command.Source, payload any) (*state.Result, error)
	// State is the replicated state the salts are read from.
	State() *state.State
}

// saltSize is a salt's length in bytes (an HMAC-SHA256 key).
const saltSize = 32

// StateSalts keeps each device's salt in the replicated state, sealed by the barrier: made on
// first use by the active node, read by every node, never on disk or in the log in clear.
type StateSalts struct {
	c Cluster

	mu    sync.Mutex
	cache map[string]cachedSalt
}

// cachedSalt is a salt opened once, with the sealed form it was opened from.
type cachedSalt struct {
	sealed, plain []byte
}

// NewStateSalts returns the salts of the cluster's devices.
func NewStateSalts(c Cluster) *StateSalts {
	return &StateSalts{c: c, cache: map[string]cachedSalt{}}
}

// Salt returns the salt of the device at path, making and committing one when it has none
// (only the active node can). A sealed node has none to give.
func (s *StateSalts) Salt(ctx context.Context, path string) ([]byte, error) {
	b := s.c.Barrier()
	if b.Sealed() {
		return nil, barrier.ErrSealed
	}
	sealed := s.stored(path)
	if sealed == nil {
		plain := make([]byte, saltSize)
		if _, err := rand.Read(plain); err != nil {
			return nil, fmt.Errorf("audit: new salt: %w", err)
		}
		ct, err := b.Encrypt(plain)
		if err != nil {
			return nil, err
		}
		// The first salt committed wins; ours may lose a race and is then dropped.
		if _, err := s.c.Propose(ctx, state.TypeAuditSaltPut, "", command.SourceInternal, state.AuditSaltPut{Path: path, Sealed: ct}); err != nil {
			return nil, fmt.Errorf("audit: committing the salt of %s: %w", path, err)
		}
		if sealed = s.stored(path); sealed == nil {
			return nil, fmt.Errorf("audit: the salt of %s was committed but is not in the state", path)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cache[path]; ok && bytes.Equal(c.sealed, sealed) {
		return c.plain, nil
	}
	plain, err := b.Decrypt(sealed)
	if err != nil {
		return nil, fmt.Errorf("audit: opening the salt of %s: %w", path, err)
	}
	s.cache[path] = cachedSalt{sealed: sealed, plain: plain}
	return plain, nil
}

func (s *StateSalts) stored(path string) []byte {
	var out []byte
	s.c.State().View(func(d *state.Data) { out = d.AuditSalts[path] })
	return out
}
