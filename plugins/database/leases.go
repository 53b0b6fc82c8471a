package database

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// revokeBatch bounds the leases one LeaseDeleteMany entry forgets: a prefix revocation of
// thousands of leases commits a few entries, not one per lease, and a failover loses at most
// one batch of work (its users are deleted again, which DeleteUser allows).
const revokeBatch = 64

// markedRetry is how long the lease loop waits before it retries marked leases whose users
// could not be deleted.
const markedRetry = 30 * time.Second

// ErrRevokeIncomplete is returned by RevokePrefix when some users could not be deleted; their
// leases stay marked and the active node keeps retrying them.
var ErrRevokeIncomplete = errors.New("some leases could not be revoked")

// leasePrefix turns what sys/leases/revoke-prefix was given into the prefix to mark, as
// OpenBao reads it: the id of one lease revokes that lease alone; anything else names a path
// and gets its trailing slash, so "database/creds/ro" never takes "database/creds/ro2/…".
func (e *Engine) leasePrefix(prefix string) (string, error) {
	prefix = strings.TrimLeft(prefix, "/")
	if prefix == "" {
		return "", invalid("a lease prefix is required: give a path such as database/creds/<role>/")
	}
	if err := checkRunes("lease prefix", prefix); err != nil {
		return "", err
	}
	if strings.HasSuffix(prefix, "/") {
		return prefix, nil
	}
	var exact bool
	e.cluster.State().View(func(d *state.Data) { _, exact = d.Leases[prefix] })
	if exact {
		return prefix, nil
	}
	return prefix + "/", nil
}

// RevokePrefix revokes every lease under prefix (sys/leases/revoke-prefix, and with force
// sys/leases/revoke-force). It first commits the intent (every lease under the prefix marked
// revoking, in one entry), then deletes the users and forgets their leases in batches. If the
// node loses leadership half-way, the next active node finds the marks and revokes the rest
// (leaseLoop). Without force a user that cannot be deleted keeps its lease (and the mark, so
// it is retried) and the call fails with ErrRevokeIncomplete; with force the lease is
// forgotten anyway, as OpenBao's revoke-force does. A prefix that matches nothing succeeds.
func (e *Engine) RevokePrefix(ctx context.Context, prefix string, force bool) error {
	p, err := e.leasePrefix(prefix)
	if err != nil {
		return err
	}
	return e.revokePrefix(ctx, p, force)
}

// revokePrefix is RevokePrefix for a prefix already normalised.
func (e *Engine) revokePrefix(ctx context.Context, p string, force bool) error {
	if _, err := e.cluster.Propose(ctx, state.TypeLeaseRevokeMark, "", command.SourceAPI, state.LeaseRevokeMark{Prefix: p, Force: force}); err != nil {
		return err
	}
	select {
	case e.revoking <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("revoke %s: the leases are marked and the active node revokes them: %w", p, ctx.Err())
	}
	failed, err := e.revokeMarked(ctx, p)
	<-e.revoking
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("revoke %s: %w: %d users could not be deleted; they are retried, or use sys/leases/revoke-force to forget them", p, ErrRevokeIncomplete, failed)
	}
	return nil
}

// revokeMarked revokes the marked leases under prefix ("" for all): each user deleted, then
// the leases forgotten batch by batch. It answers how many could not be revoked; an error is
// a failed commit (the marks stay for the next attempt).
func (e *Engine) revokeMarked(ctx context.Context, prefix string) (int, error) {
	var marked []state.Lease
	e.cluster.State().View(func(d *state.Data) {
		for id, l := range d.Leases {
			if l.Revoking && strings.HasPrefix(id, prefix) {
				marked = append(marked, l)
			}
		}
	})
	sort.Slice(marked, func(i, j int) bool { return marked[i].ID < marked[j].ID })
	failed := 0
	for len(marked) > 0 {
		n := min(revokeBatch, len(marked))
		var gone []string
		for _, l := range marked[:n] {
			err := e.deleteUser(ctx, l)
			switch {
			case err == nil:
			case ctx.Err() != nil:
				return failed, ctx.Err()
			case l.ForceRevoke:
				e.log.Warn("forced revocation: the lease is forgotten although its user could not be deleted", "lease", l.ID, "user", l.Username, "error", err)
			default:
				e.log.Warn("revoking a lease", "lease", l.ID, "error", err)
				failed++
				continue
			}
			gone = append(gone, l.ID)
		}
		marked = marked[n:]
		if len(gone) == 0 {
			continue
		}
		if _, err := e.cluster.Propose(ctx, state.TypeLeaseDeleteMany, "", command.SourceAPI, state.LeaseDeleteMany{IDs: gone}); err != nil {
			return failed, fmt.Errorf("forget %d revoked leases: %w", len(gone), err)
		}
	}
	return failed, nil
}

// deleteUser deletes a lease's user with the statements it was issued with; a connection that
// no longer exists has no user to delete.
func (e *Engine) deleteUser(ctx context.Context, l state.Lease) error {
	err := e.rt.Call(ctx, state.Key(l.Mount, l.DBName), func(db dbplugin.Database) error {
		_, err := db.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: l.Username, Statements: dbplugin.Statements{Commands: l.RevocationStatements}})
		return err
	})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	return err
}

// LookupPrefix lists the leases under prefix as OpenBao's LIST sys/leases/lookup/:prefix
// does: the rest of each lease id after the prefix, a sub-path cut after its first slash
// (so "database/" lists "creds/"), sorted and without repeats. Nothing under it lists nothing.
func (e *Engine) LookupPrefix(prefix string) []string {
	prefix = strings.TrimLeft(prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	seen := map[string]bool{}
	e.cluster.State().View(func(d *state.Data) {
		for id := range d.Leases {
			rest, ok := strings.CutPrefix(id, prefix)
			if !ok || rest == "" {
				continue
			}
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				rest = rest[:i+1]
			}
			seen[rest] = true
		}
	})
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
