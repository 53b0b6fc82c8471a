package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/database"
)

// Node is what the API asks of the node it serves: status, init, seal and unseal,
// step-down, membership and the lifecycle listing. internal/server
// wires the core node and its membership into it; the tests use a fake.
type Node interface {
	// Config is the node's configuration (its id, cluster name and API address).
	Config() core.Config
	// Initialized: the node belongs to, or has reached through a join target, an
	// initialised cluster.
	Initialized() bool
	// ReachedCluster is the join target that answered that its cluster is initialised.
	ReachedCluster() string
	// Sealed: the node holds no key.
	Sealed() bool
	// IsActive: the node is the active node.
	IsActive() bool
	// ActiveSince is when the node last became active (the zero time when it is not).
	ActiveSince() time.Time
	// LeaderAPIAddr is the active node's id and API address, "" when unknown.
	LeaderAPIAddr() (id, addr string)
	// RaftStatus is the leader's Raft address and this node's applied index.
	RaftStatus() (leaderRaftAddr string, applied uint64)
	// Init initialises a new cluster on this node.
	Init(ctx context.Context, rootToken string) (core.InitResult, error)
	// Unseal unseals with a key (hex or base64), joining the cluster when the node has none.
	Unseal(ctx context.Context, key string) error
	// Seal seals the node.
	Seal(ctx context.Context) error
	// RequestStepDown hands the active node's leadership over.
	RequestStepDown(ctx context.Context) error

	// Join adds a join target (sys/storage/raft/join).
	Join(leaderAPIAddr string) error
	// Challenge makes a join challenge for a joining node (active node).
	Challenge(serverID string) (string, error)
	// Answer checks a joining node's answer, adds it and grants its certificate (active node).
	Answer(ctx context.Context, a core.JoinAnswer) (core.JoinGrant, error)
	// RemovePeer removes a node from the cluster.
	RemovePeer(ctx context.Context, id string) error
	// Peers is the Raft configuration and this node's applied index.
	Peers() ([]core.RaftServer, uint64, error)

	// NATSCredentials opens one of the cluster's NATS identities (node, operator, watcher).
	NATSCredentials(role string) (core.NATSCredentials, error)

	// Lifecycle reads the lifecycle machines and WAL from this node's replicated state.
	Lifecycle(withApplied bool) core.Lifecycle
	// WatchLifecycle subscribes to the transitions this node applies from now on; a reader
	// that lets buffer transitions pile up is dropped.
	WatchLifecycle(buffer int) *core.LifecycleWatch
}

// Secrets is what the API asks of the secrets side: the plugin catalog, the mounts and the
// database engine's operations. internal/server wires the database engine into it.
type Secrets interface {
	// ListPlugins reads the whole catalog.
	ListPlugins() database.CatalogListing
	// ListPluginsOfType lists the catalog's names of one type.
	ListPluginsOfType(typ string) []string
	// ReadPlugin reads a catalog entry.
	ReadPlugin(typ, name, version string) (catalog.Entry, error)
	// RegisterPlugin verifies and registers a plugin.
	RegisterPlugin(ctx context.Context, e catalog.Entry) error
	// DeletePlugin removes a catalog entry (missing is not an error).
	DeletePlugin(ctx context.Context, typ, name, version string) error

	// Mounts lists the mounts by path.
	Mounts() map[string]database.Mount
	// ReadMount reads one mount.
	ReadMount(path string) (database.Mount, bool)
	// FindMount splits a path into the mount it lies under and the rest.
	FindMount(p string) (mount, rest string)
	// EnableMount mounts a secrets engine.
	EnableMount(ctx context.Context, m database.Mount) error
	// ReadMountTTLs and TuneMount serve sys/mounts/:path/tune.
	ReadMountTTLs(path string) (database.Mount, database.MountTTLs, error)
	TuneMount(ctx context.Context, path string, t database.Tune) error
	// DisableMount disables a mount, revoking its leases.
	DisableMount(ctx context.Context, path string, src database.Source) error
	// Reload restarts a plugin's instances, everywhere or on one mount.
	Reload(ctx context.Context, pluginName, mount string, src database.Source) (uint64, error)
	// ReloadStatus reads a reload recorded under the id the API answered.
	ReloadStatus(id string) (database.Reload, bool)
	// PluginConnections lists a mount's connections that use a plugin.
	PluginConnections(mount, pluginName string) []string

	// ListConfigs, ReadConfig, WriteConfig, DeleteConfig, Reset and RotateRoot serve
	// <mount>/config, reset and rotate-root.
	ListConfigs(mount string) []string
	ReadConfig(mount, name string) (map[string]any, error)
	WriteConfig(ctx context.Context, mount, name string, in database.ConfigInput, src database.Source) error
	DeleteConfig(ctx context.Context, mount, name string, src database.Source) error
	Reset(ctx context.Context, mount, name string, src database.Source) error
	RotateRoot(ctx context.Context, mount, name string, src database.Source) error

	// ListRoles, ReadRole, WriteRole, DeleteRole and Creds serve dynamic roles.
	ListRoles(mount string) []string
	ReadRole(mount, name string) (database.Role, error)
	WriteRole(ctx context.Context, r database.Role) (warnings []string, err error)
	DeleteRole(ctx context.Context, mount, name string) error
	Creds(ctx context.Context, mount, roleName, displayName string) (database.Secret, error)

	// Lookup, Renew and Revoke serve sys/leases.
	Lookup(id string) (database.Lease, error)
	Renew(ctx context.Context, id string, increment time.Duration) (database.Secret, error)
	Revoke(ctx context.Context, id string) error
	// RevokePrefix revokes every lease under a prefix (force: forget the leases even when
	// their users cannot be deleted); LookupPrefix lists the keys under a prefix.
	RevokePrefix(ctx context.Context, prefix string, force bool) error
	LookupPrefix(prefix string) []string

	// PutPasswordPolicy … GeneratePassword serve sys/policies/password.
	PutPasswordPolicy(ctx context.Context, name, text string) error
	ReadPasswordPolicy(name string) (string, error)
	ListPasswordPolicies() []string
	DeletePasswordPolicy(ctx context.Context, name string) error
	GeneratePassword(name string) (string, error)

	// ListStaticRoles … RotateStaticRole serve static roles.
	ListStaticRoles(mount string) []string
	ReadStaticRole(mount, name string) (database.StaticRole, error)
	WriteStaticRole(ctx context.Context, r database.StaticRole) error
	DeleteStaticRole(ctx context.Context, mount, name string) error
	StaticCreds(mount, name string) (map[string]any, error)
	RotateStaticRole(ctx context.Context, mount, name string) error
}

// Policies is what the API asks of the ACL policy store (sys/policies/acl, sys/policy).
// internal/server wires the *auth.PolicyStore into it.
type Policies interface {
	// Put parses and writes a policy; a bad text or a built-in that cannot be written is
	// auth.ErrInvalid.
	Put(ctx context.Context, name, text string) error
	// Get reads a policy (auth.ErrNotFound when there is none).
	Get(name string) (auth.Policy, error)
	// List names every policy, root and default included.
	List() []string
	// Delete removes a policy (missing is not an error; root and default are auth.ErrInvalid).
	Delete(ctx context.Context, name string) error
}

// Tokens is what the API asks of the token store (auth/token/*): resolving the caller's
// token, and OpenBao's token operations. internal/server wires the *auth.TokenStore into it.
type Tokens interface {
	// Resolve is the caller's identity; a bad token wraps auth.ErrPermissionDenied.
	Resolve(ctx context.Context, token string) (auth.Identity, error)
	// LeaseOwner is the key a credential's lease records for the token that asked for it.
	LeaseOwner(id auth.Identity) (string, error)
	Create(ctx context.Context, caller auth.Identity, req auth.CreateRequest) (auth.Auth, error)
	Lookup(token string) (auth.TokenInfo, error)
	LookupAccessor(accessor string) (auth.TokenInfo, error)
	Renew(ctx context.Context, token string, increment time.Duration) (auth.Auth, error)
	Revoke(ctx context.Context, token string) error
	RevokeOrphan(ctx context.Context, token string) error
	RevokeAccessor(ctx context.Context, accessor string) error
	ListAccessors() ([]string, error)
}

// RootGenerator is sys/generate-root: OpenBao's flow to make a new root token with the
// unseal key. internal/server wires the *auth.RootGenerator into it.
type RootGenerator interface {
	Status() auth.RootGenStatus
	Start(otp string) (auth.RootGenStatus, error)
	Cancel()
	Update(ctx context.Context, key []byte, nonce string) (auth.RootGenStatus, error)
}

// Forwarder carries a standby's requests to the active node (internal/server wires the core
// node's, which goes over the cluster port with mutual TLS to the node Raft names as leader).
type Forwarder interface {
	http.RoundTripper
	// Target is the URL under which RoundTrip reaches the active node named leaderID.
	Target(leaderID string) *url.URL
}
