package state

import (
	"fmt"

	"github.com/baton-hq/baton/raftstore/command"
)

// TypeAuditSaltPut records an audit device's salt (see AuditSaltPut).
const TypeAuditSaltPut command.Type = "audit_salt.put"

// auditHandlers keep the audit devices' salts: the HMAC key each device hashes secrets and
// tokens with, sealed by the barrier before it is proposed, so that the log, snapshots and
// the state never hold it in clear, and every node hashes alike after a failover.
var auditHandlers = map[command.Type]handler{
	TypeAuditSaltPut: on((*txn).auditSaltPut),
}

// AuditSaltPut gives the audit device at Path its salt, unless it already has one: the first
// committed salt wins, so two nodes (or two requests) racing to create it converge on one and
// a hash once written stays checkable with sys/audit-hash.
type AuditSaltPut struct {
	// Path is the device's path, with its trailing "/".
	Path string `json:"path"`
	// Sealed is the salt, encrypted by the barrier.
	Sealed []byte `json:"sealed"`
}

func (t *txn) auditSaltPut(p AuditSaltPut) error {
	if p.Path == "" || len(p.Sealed) == 0 {
		return fmt.Errorf("%w: an audit salt needs a device path and a sealed salt", ErrInvalid)
	}
	if _, had := t.d.AuditSalts[p.Path]; had {
		return nil
	}
	if t.d.AuditSalts == nil {
		t.d.AuditSalts = map[string][]byte{}
	}
	t.d.AuditSalts[p.Path] = p.Sealed
	t.undo = append(t.undo, func() { delete(t.d.AuditSalts, p.Path) })
	return nil
}
