package state

import (
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/wal"
)

// Node is a member of the cluster as the API sees it.
type Node struct {
	ID       string `json:"id"`
	APIAddr  string `json:"api_addr"`
	RaftAddr string `json:"raft_addr"`
}

// Seal is what the cluster keeps about its barrier: never a key in clear.
type Seal struct {
	Initialized bool `json:"initialized"`
	// KeyCheck is the barrier's keyring sealed by the root key (the unseal key the shares
	// recombine): opening it proves a root key and gives the data keys.
	KeyCheck []byte `json:"key_check,omitempty"`
	// RootKey is the root key sealed by the keyring's first term, set by a rekey, so that
	// every node can follow the new root key from the replicated state.
	RootKey []byte `json:"root_key,omitempty"`
	// Generation counts the seal updates (rotations, rekeys): an update names the next one,
	// so that of two updates made from the same keyring only the first is applied.
	Generation uint64 `json:"generation,omitempty"`
	Shares     int    `json:"shares,omitempty"`
	Threshold  int    `json:"threshold,omitempty"`
	// TokenSalt is the token store's HMAC salt, sealed by the barrier; made at init.
	TokenSalt []byte `json:"token_salt,omitempty"`
	// NATS are the cluster's NATS identities, created at init; nil for a cluster initialised
	// before they existed.
	NATS *NATSIdentities `json:"nats,omitempty"`
	// ClusterCA is the cluster port's CA, made at init: its certificate (DER) in clear, its
	// key (PKCS#8 DER) sealed by the barrier. The active node signs a joining node's
	// certificate with it.
	ClusterCA *ClusterCA `json:"cluster_ca,omitempty"`
}

// ClusterCA is the cluster port's certificate authority as the state keeps it.
type ClusterCA struct {
	Cert      []byte `json:"cert"`
	SealedKey []byte `json:"sealed_key"`
}

// NATSIdentities are the nkey users of the cluster's embedded NATS: one node identity every
// node shares, an operator and a watcher.
type NATSIdentities struct {
	Node     NATSIdentity `json:"node"`
	Operator NATSIdentity `json:"operator"`
	Watcher  NATSIdentity `json:"watcher"`
}

// NATSIdentity is one nkey user: its public key in clear, its seed sealed by the barrier.
type NATSIdentity struct {
	Public     string `json:"public"`
	SealedSeed []byte `json:"sealed_seed"`
}

// Mount is an enabled secrets engine.
type Mount struct {
	Path        string `json:"path"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	// Accessor names the mount as OpenBao's do ("database_" and 8 hex digits), generated on
	// the active node before the mount is proposed; unique among the mounts.
	Accessor      string    `json:"accessor,omitempty"`
	PluginName    string    `json:"plugin_name,omitempty"`
	PluginVersion string    `json:"plugin_version,omitempty"`
	Created       time.Time `json:"created"`
	// Disabling is set while the mount is being disabled: its leases are being revoked and
	// nothing new may be issued or configured under it.
	Disabling bool `json:"disabling,omitempty"`
	// DefaultLeaseTTL and MaxLeaseTTL are the mount's tuned lease TTLs (sys/mounts/:path/tune);
	// zero means the system's (default_lease_ttl and max_lease_ttl of the node's config), as
	// in OpenBao, where a mount's max may also be above the system's.
	DefaultLeaseTTL time.Duration `json:"default_lease_ttl,omitempty"`
	MaxLeaseTTL     time.Duration `json:"max_lease_ttl,omitempty"`
}

// Connection is a database connection of a database mount. Config is the plugin
// configuration sealed by the barrier (it holds the root password and the connection URL);
// Redacted is what reads show.
type Connection struct {
	Mount                  string         `json:"mount"`
	Name                   string         `json:"name"`
	PluginName             string         `json:"plugin_name"`
	PluginVersion          string         `json:"plugin_version,omitempty"`
	VerifyConnection       bool           `json:"verify_connection"`
	AllowedRoles           []string       `json:"allowed_roles,omitempty"`
	RootRotationStatements []string       `json:"root_rotation_statements,omitempty"`
	PasswordPolicy         string         `json:"password_policy,omitempty"`
	Config                 []byte         `json:"config"`
	Redacted               map[string]any `json:"redacted,omitempty"`
	Updated                time.Time      `json:"updated"`
	// Generation counts config writes (updates, rotations, rollbacks); an instance opened
	// with an older generation is stale.
	Generation uint64 `json:"generation"`
}

// Role is a dynamic role: each creds request makes a new database user with a lease.
type Role struct {
	Mount                string        `json:"mount"`
	Name                 string        `json:"name"`
	DBName               string        `json:"db_name"`
	CreationStatements   []string      `json:"creation_statements,omitempty"`
	RevocationStatements []string      `json:"revocation_statements,omitempty"`
	RollbackStatements   []string      `json:"rollback_statements,omitempty"`
	RenewStatements      []string      `json:"renew_statements,omitempty"`
	DefaultTTL           time.Duration `json:"default_ttl"`
	MaxTTL               time.Duration `json:"max_ttl"`
}

// StaticRole binds an existing database user whose password Baton rotates.
type StaticRole struct {
	Mount              string        `json:"mount"`
	Name               string        `json:"name"`
	DBName             string        `json:"db_name"`
	Username           string        `json:"username"`
	RotationPeriod     time.Duration `json:"rotation_period"`
	RotationStatements []string      `json:"rotation_statements,omitempty"`
	Password           []byte        `json:"password,omitempty"` // sealed
	LastRotation       time.Time     `json:"last_rotation"`
}

// Lease is a dynamic credential's lease.
type Lease struct {
	ID         string    `json:"id"`
	Mount      string    `json:"mount"`
	Role       string    `json:"role"`
	DBName     string    `json:"db_name"`
	Username   string    `json:"username"`
	Issued     time.Time `json:"issued"`
	Expires    time.Time `json:"expires"`
	MaxExpires time.Time `json:"max_expires"`
	Renewable  bool      `json:"renewable"`
	// LastRenewal is when the lease was last renewed (the renewal command's time, so every
	// node records the same), zero until it is; sys/leases/lookup reports it as OpenBao does.
	LastRenewal time.Time `json:"last_renewal,omitzero"`
	// TTL is the role's default TTL at issue time: a renewal without an increment extends by it.
	TTL time.Duration `json:"ttl"`
	// RevocationStatements and RenewStatements are the role's at issue time, so a lease is
	// revoked as it was promised even after its role changed or was deleted.
	RevocationStatements []string `json:"revocation_statements,omitempty"`
	RenewStatements      []string `json:"renew_statements,omitempty"`
	// Owner is the salted hash of the accessor of the token that asked for the credential
	// ("" for none): revoking that token revokes the lease.
	Owner string `json:"owner,omitempty"`
	// Revoking marks a lease a prefix revocation has taken (LeaseRevokeMark): the active node
	// revokes it, retrying until it succeeds; ForceRevoke forgets it even when its user
	// cannot be deleted, as OpenBao's revoke-force does.
	Revoking    bool `json:"revoking,omitempty"`
	ForceRevoke bool `json:"force_revoke,omitempty"`
}

// AppliedEvent is one applied command in the order of the Raft log.
type AppliedEvent struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Index uint64 `json:"index"`
}

// Data is the whole replicated state: what a snapshot holds.
type Data struct {
	Nodes       map[string]Node         `json:"nodes"`
	Seal        Seal                    `json:"seal"`
	Catalog     *catalog.Catalog        `json:"catalog"`
	Mounts      map[string]Mount        `json:"mounts"`
	Connections map[string]Connection   `json:"connections"`
	Roles       map[string]Role         `json:"roles"`
	StaticRoles map[string]StaticRole   `json:"static_roles"`
	Leases      map[string]Lease        `json:"leases"`
	WAL         *wal.Table              `json:"wal"`
	Machines    map[string]*fsm.Machine `json:"machines"`
	// Policies are the ACL policies by (lower-cased) name; default is always there.
	Policies map[string]Policy `json:"policies"`
	// PasswordPolicies are OpenBao's password policies (sys/policies/password) by name: the
	// HCL text as written, parsed by the proposer.
	PasswordPolicies map[string]PasswordPolicy `json:"password_policies,omitempty"`
	// PoliciesVersion is the index of the last command that changed Policies: a compiled
	// policy set is stale once it moves.
	PoliciesVersion uint64 `json:"policies_version"`
	// Tokens are the token entries by the salted hash of their id; TokenAccessors maps the
	// salted hash of each accessor to its token's (tokens.go).
	Tokens         map[string]Token  `json:"tokens"`
	TokenAccessors map[string]string `json:"token_accessors"`
	// AuditSalts are the audit devices' salts by device path, each sealed by the barrier.
	AuditSalts map[string][]byte `json:"audit_salts,omitempty"`
	// Applied maps each applied command id to its index; Log keeps them in log order.
	// Both are bounded by MaxApplied, oldest first out, identically on every node.
	Applied map[string]uint64 `json:"applied"`
	Log     []AppliedEvent    `json:"log"`
	Index   uint64            `json:"index"`
	// Reloads are the API's plugin reloads by reload id, for sys/plugins/reload/backend/status;
	// ReloadLog keeps their ids in log order, bounded by MaxReloads, oldest first out.
	Reloads   map[string]Reload `json:"reloads,omitempty"`
	ReloadLog []string          `json:"reload_log,omitempty"`
	// Autopilot is the autopilot configuration an operator set; nil: the defaults
	// (AutopilotConfig gives the one in force).
	Autopilot *AutopilotConfig `json:"autopilot,omitempty"`
}

// Reload is one committed plugin reload: when it was asked (its last command's time, the
// same on every node) and the log index that applied it.
type Reload struct {
	Time  time.Time `json:"time"`
	Index uint64    `json:"index"`
}

// MaxReloads bounds the remembered reload ids; an older id's status answers 404.
const MaxReloads = 1000

// Policy is one stored ACL policy: its name and the HCL text the operator wrote.
type Policy struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// MaxApplied bounds the remembered command ids. JetStream redelivers an unacked event within
// its AckWait, minutes at most, and the stream's duplicate window (events.DuplicateWindow)
// drops exact republishes for 90 s: 100 000 ids cover that up to about 1 100 events/s, the
// highest intake limit events.Limit.Validate accepts.
const MaxApplied = 100_000

func newData() *Data {
	return &Data{
		Nodes:            map[string]Node{},
		Catalog:          &catalog.Catalog{},
		Mounts:           map[string]Mount{},
		Connections:      map[string]Connection{},
		Roles:            map[string]Role{},
		StaticRoles:      map[string]StaticRole{},
		Leases:           map[string]Lease{},
		WAL:              wal.NewTable(),
		Machines:         map[string]*fsm.Machine{},
		Policies:         defaultPolicies(),
		PasswordPolicies: map[string]PasswordPolicy{},
		Tokens:           map[string]Token{},
		TokenAccessors:   map[string]string{},
		Applied:          map[string]uint64{},
	}
}

// Key joins a mount path and a name into the key of a connection, role or lease map.
func Key(mount, name string) string { return NormalizeMount(mount) + name }

// NormalizeMount gives a mount path its canonical form: no leading slash, one trailing slash.
func NormalizeMount(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p + "/"
}

// MachineKey addresses a lifecycle machine in Data.Machines.
func MachineKey(kind fsm.Kind, id string) string { return string(kind) + ":" + id }
