package state

import (
	"fmt"
	"strings"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
)

// leaseHandlers change the leases of issued dynamic credentials.
var leaseHandlers = map[command.Type]handler{
	TypeLeasePut:        on((*txn).leasePut),
	TypeLeaseRenew:      on((*txn).leaseRenew),
	TypeLeaseDelete:     on((*txn).leaseDelete),
	TypeLeaseRevokeMark: on((*txn).leaseRevokeMark),
	TypeLeaseDeleteMany: on((*txn).leaseDeleteMany),
}

func (t *txn) leasePut(p LeasePut) error {
	if p.Lease.ID == "" {
		return fmt.Errorf("%w: lease id is empty", ErrInvalid)
	}
	// The mount must still be there and not being disabled: a credential issued while it
	// was disabled must not outlive it.
	if err := t.dbMount(NormalizeMount(p.Lease.Mount)); err != nil {
		return err
	}
	// A credential asked for by a token that is gone (revoked while its request ran) is
	// refused: the engine takes its user back.
	if o := p.Lease.Owner; o != "" {
		if _, ok := t.d.TokenAccessors[o]; !ok {
			return fmt.Errorf("%w: the token that asked for the credential was revoked", ErrNotFound)
		}
	}
	t.d.Leases[p.Lease.ID] = p.Lease
	return nil
}

func (t *txn) leaseRenew(p LeaseRenew) error {
	l, ok := t.d.Leases[p.ID]
	if !ok {
		return fmt.Errorf("%w: lease %q", ErrNotFound, p.ID)
	}
	// The expiry was settled on the leader; parsing it reads no clock.
	exp, err := time.Parse(time.RFC3339Nano, p.Expires)
	if err != nil {
		return fmt.Errorf("%w: expires: %w", ErrInvalid, err)
	}
	l.Expires = exp
	l.LastRenewal = t.c.Time.UTC()
	t.d.Leases[p.ID] = l
	return nil
}

func (t *txn) leaseDelete(p LeaseDelete) error {
	delete(t.d.Leases, p.ID)
	return nil
}

// leaseRevokeMark marks every lease under the prefix revoking (force is sticky: a lease once
// marked for a forced revocation stays so). A prefix that matches nothing is not an error,
// as in OpenBao; the empty prefix is refused, so that no command revokes every lease by a slip.
func (t *txn) leaseRevokeMark(p LeaseRevokeMark) error {
	if p.Prefix == "" {
		return fmt.Errorf("%w: lease prefix is empty", ErrInvalid)
	}
	for id, l := range t.d.Leases {
		if !strings.HasPrefix(id, p.Prefix) || (l.Revoking && (l.ForceRevoke || !p.Force)) {
			continue
		}
		prev := l
		l.Revoking = true
		l.ForceRevoke = l.ForceRevoke || p.Force
		t.d.Leases[id] = l
		t.undo = append(t.undo, func() { t.d.Leases[id] = prev })
	}
	return nil
}

// leaseDeleteMany forgets the leases named; one already gone is skipped.
func (t *txn) leaseDeleteMany(p LeaseDeleteMany) error {
	for _, id := range p.IDs {
		prev, ok := t.d.Leases[id]
		if !ok {
			continue
		}
		delete(t.d.Leases, id)
		t.undo = append(t.undo, func() { t.d.Leases[id] = prev })
	}
	return nil
}
