package state

import (
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/wal"
)

// Command types the dispatcher applies.
const (
	TypeNodeJoin             command.Type = "node.join"
	TypeNodeRemove           command.Type = "node.remove"
	TypeInit                 command.Type = "sys.init"
	TypeSealUpdate           command.Type = "sys.seal_update"
	TypeCatalogPut           command.Type = "catalog.put"
	TypeCatalogDelete        command.Type = "catalog.delete"
	TypeMountPut             command.Type = "mount.put"
	TypeMountDelete          command.Type = "mount.delete"
	TypeMountDisable         command.Type = "mount.disable"
	TypeMountTune            command.Type = "mount.tune"
	TypeConnPut              command.Type = "conn.put"
	TypeConnDelete           command.Type = "conn.delete"
	TypeConnReset            command.Type = "conn.reset"
	TypeRolePut              command.Type = "role.put"
	TypeRoleDelete           command.Type = "role.delete"
	TypeStaticRolePut        command.Type = "static_role.put"
	TypeStaticRoleDelete     command.Type = "static_role.delete"
	TypeLeasePut             command.Type = "lease.put"
	TypeLeaseRenew           command.Type = "lease.renew"
	TypeLeaseDelete          command.Type = "lease.delete"
	TypeLeaseRevokeMark      command.Type = "lease.revoke_mark"
	TypeLeaseDeleteMany      command.Type = "lease.delete_many"
	TypeRotateBegin          command.Type = "rotate.begin"
	TypeRotateCommit         command.Type = "rotate.commit"
	TypeRotateFail           command.Type = "rotate.fail"
	TypeRollbackStart        command.Type = "rollback.start"
	TypeRollbackDone         command.Type = "rollback.done"
	TypeRollbackFail         command.Type = "rollback.fail"
	TypeLifecycleFire        command.Type = "lifecycle.fire"
	TypeLifecycleAll         command.Type = "lifecycle.broadcast"
	TypePluginReload         command.Type = "plugin.reload"
	TypeStaticRotateBegin    command.Type = "static_rotate.begin"
	TypeStaticRotateCommit   command.Type = "static_rotate.commit"
	TypePolicyPut            command.Type = "policy.put"
	TypePolicyDelete         command.Type = "policy.delete"
	TypePasswordPolicyPut    command.Type = "password_policy.put"
	TypePasswordPolicyDelete command.Type = "password_policy.delete"
	TypeTokenCreate          command.Type = "token.create"
	TypeTokenRenew           command.Type = "token.renew"
	TypeTokenUse             command.Type = "token.use"
	TypeTokenRevoke          command.Type = "token.revoke"
	TypeNoop                 command.Type = "noop"
	TypeBatch                command.Type = "batch"
)

// NodeJoin records a node's addresses.
type NodeJoin struct {
	Node Node `json:"node"`
}

// NodeRemove forgets a node.
type NodeRemove struct {
	ID string `json:"id"`
}

// Init initialises the cluster's seal; RootToken, when set, is the root token's entry
// (made with the salt in Seal.TokenSalt), created in the same command.
type Init struct {
	Seal      Seal   `json:"seal"`
	RootToken *Token `json:"root_token,omitempty"`
}

// SealUpdate replaces the cluster's sealed keyring after a rotation or a rekey. Generation
// must be the seal's next; a rekey also sets RootKey, Shares and Threshold.
type SealUpdate struct {
	KeyCheck   []byte `json:"key_check"`
	RootKey    []byte `json:"root_key,omitempty"`
	Generation uint64 `json:"generation"`
	Shares     int    `json:"shares,omitempty"`
	Threshold  int    `json:"threshold,omitempty"`
}

// CatalogPut registers a plugin; its env must already be sealed (Entry.Env empty).
type CatalogPut struct {
	Entry catalog.Entry `json:"entry"`
}

// CatalogDelete removes one version of a plugin.
type CatalogDelete struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// MountPut enables a secrets engine at a path.
type MountPut struct {
	Mount Mount `json:"mount"`
}

// MountTune changes a mount's tunable settings (sys/mounts/:path/tune); a nil field is left
// as it is. The TTLs were checked against each other by the proposer, with the system's
// values of its config; Apply checks only what needs no config (not negative, default at
// most max when both are set).
type MountTune struct {
	Path            string         `json:"path"`
	DefaultLeaseTTL *time.Duration `json:"default_lease_ttl,omitempty"`
	MaxLeaseTTL     *time.Duration `json:"max_lease_ttl,omitempty"`
	Description     *string        `json:"description,omitempty"`
}

// MountDelete disables the engine at a path with everything under it.
type MountDelete struct {
	Path string `json:"path"`
}

// ConnPut writes a connection (create or update).
type ConnPut struct {
	Connection Connection `json:"connection"`
}

// ConnRef names a connection.
type ConnRef struct {
	Mount string `json:"mount"`
	Name  string `json:"name"`
}

// RolePut writes a dynamic role.
type RolePut struct {
	Role Role `json:"role"`
}

// StaticRolePut writes a static role.
type StaticRolePut struct {
	Role StaticRole `json:"role"`
}

// RoleRef names a role of a mount.
type RoleRef struct {
	Mount string `json:"mount"`
	Name  string `json:"name"`
}

// LeasePut records an issued credential's lease.
type LeasePut struct {
	Lease Lease `json:"lease"`
}

// LeaseRenew moves a lease's expiry.
type LeaseRenew struct {
	ID      string `json:"id"`
	Expires string `json:"expires"` // RFC 3339, settled on the leader
}

// LeaseDelete forgets a revoked lease.
type LeaseDelete struct {
	ID string `json:"id"`
}

// LeaseRevokeMark records the intent to revoke every lease whose id starts with Prefix
// (sys/leases/revoke-prefix and revoke-force): the marked leases are revoked by whichever
// node is active, so a revocation cut short by a failover is finished by the next leader.
// Force marks them to be forgotten even when the plugin cannot delete their users.
type LeaseRevokeMark struct {
	Prefix string `json:"prefix"`
	Force  bool   `json:"force,omitempty"`
}

// LeaseDeleteMany forgets many revoked leases in one entry; ids no longer there are skipped,
// so a batch retried after a failover is a no-op for the part already applied.
type LeaseDeleteMany struct {
	IDs []string `json:"ids"`
}

// RotateBegin commits a root rotation's WAL entry and moves the connection to rotating,
// before the database is touched.
type RotateBegin struct {
	Mount string    `json:"mount"`
	Name  string    `json:"name"`
	Entry wal.Entry `json:"entry"`
}

// RotateCommit stores the rotated config and deletes the WAL entry, in one command.
type RotateCommit struct {
	Mount  string `json:"mount"`
	Name   string `json:"name"`
	WALID  string `json:"wal_id"`
	Config []byte `json:"config"`
	// Redacted replaces the connection's redacted view when set.
	Redacted map[string]any `json:"redacted,omitempty"`
}

// RotateFail records that UpdateUser failed; the WAL entry stays for the rollback manager.
type RotateFail struct {
	Mount  string `json:"mount"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// RollbackStart marks a WAL entry taken by the rollback manager.
type RollbackStart struct {
	WALID string `json:"wal_id"`
}

// RollbackDone deletes a WAL entry whose handler succeeded; Config, when set, is the
// connection's config as the handler left it (the old credential restored).
type RollbackDone struct {
	WALID  string `json:"wal_id"`
	Config []byte `json:"config,omitempty"`
}

// RollbackFail records a failed handler run; the entry stays and is retried.
type RollbackFail struct {
	WALID  string `json:"wal_id"`
	Reason string `json:"reason"`
}

// LifecycleFire fires one event on one machine.
type LifecycleFire struct {
	Kind   fsm.Kind  `json:"kind"`
	ID     string    `json:"id"`
	Event  fsm.Event `json:"event"`
	Reason string    `json:"reason,omitempty"`
}

// LifecycleBroadcast fires an event on every machine of a kind that accepts it (a step-down,
// a seal, a failover). Machines that refuse it are left alone.
type LifecycleBroadcast struct {
	Kind   fsm.Kind  `json:"kind"`
	Event  fsm.Event `json:"event"`
	Reason string    `json:"reason,omitempty"`
}

// PluginReload fires reload on the plugin instances of every connection that runs the named
// plugin, or of every connection under a mount.
type PluginReload struct {
	PluginName string `json:"plugin_name,omitempty"`
	Mount      string `json:"mount,omitempty"`
	// ReloadID, when set, records the reload for its status (several mounts share one id).
	ReloadID string `json:"reload_id,omitempty"`
}

// StaticRotateBegin commits a static role's rotation WAL entry before the database changes.
type StaticRotateBegin struct {
	Mount string    `json:"mount"`
	Name  string    `json:"name"`
	Entry wal.Entry `json:"entry"`
}

// StaticRotateCommit stores a static role's new (sealed) password and deletes its WAL entry.
type StaticRotateCommit struct {
	Mount    string `json:"mount"`
	Name     string `json:"name"`
	WALID    string `json:"wal_id"`
	Password []byte `json:"password"`
}

// Batch carries several commands proposed at about the same time in one Raft entry. Each is
// applied on its own, in order, as if it had its own entry: its own id (deduplicated), its
// own success or failure. The batch's id is not recorded.
type Batch struct {
	Commands []*command.Command `json:"commands"`
}

// PolicyPut writes an ACL policy: its name (lower-cased on apply, as OpenBao stores it) and its
// raw HCL text, already parsed by the proposer.
type PolicyPut struct {
	Name   string `json:"name"`
	Policy string `json:"policy"`
}

// PolicyDelete removes an ACL policy.
type PolicyDelete struct {
	Name string `json:"name"`
}

// TokenCreate adds a token entry (hashes only; see Token).
type TokenCreate struct {
	Token Token `json:"token"`
}

// TokenRenew moves a token's expiry, settled on the active node.
type TokenRenew struct {
	ID         string    `json:"id"`
	ExpireTime time.Time `json:"expire_time"`
}

// TokenUse spends one use of a token with a use limit.
type TokenUse struct {
	ID string `json:"id"`
}

// TokenRevoke revokes a token (by ID hash) with its children, or, with Orphan, alone, its
// children becoming orphans.
type TokenRevoke struct {
	ID     string `json:"id"`
	Orphan bool   `json:"orphan,omitempty"`
}
