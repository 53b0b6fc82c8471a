package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Role names what an identity may do on the embedded NATS server.
type Role string

// Roles. The node role is the cluster's: every node holds the same node identity (it lives in
// the replicated barrier), so the server's list of keys does not change when nodes join or
// leave, and whichever node is active may take the durable consumer.
const (
	// RoleNode may do anything: serve the inject subject, consume the stream, use $JS.API and
	// publish transitions and rejected events.
	RoleNode Role = "node"
	// RoleOperator may publish events, request on the inject subject, and subscribe to
	// transitions, rejected events and its own replies (_INBOX.>).
	RoleOperator Role = "operator"
	// RoleWatcher may only subscribe to transitions.
	RoleWatcher Role = "watcher"
)

// ErrUnknownRole is returned for a role name that is none of node, operator and watcher.
var ErrUnknownRole = errors.New("unknown NATS role (want node, operator or watcher)")

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleNode, RoleOperator, RoleWatcher:
		return r, nil
	}
	return "", fmt.Errorf("events: %q: %w", s, ErrUnknownRole)
}

// NodeInboxPrefix is the reply-subject prefix of node connections. It differs from the
// default _INBOX so that an operator, who may subscribe to _INBOX.> to receive its own replies,
// cannot read the nodes' JetStream API answers and pulled events.
const NodeInboxPrefix = "_BATON_NODE_INBOX"

// Identity is one nkey user. Seed is the secret: it is never logged (String omits it).
type Identity struct {
	Role   Role
	Public string
	Seed   []byte
}

// String names the identity without its seed.
func (i Identity) String() string { return string(i.Role) + " " + i.Public }

// NewIdentity creates a fresh user nkey for role.
func NewIdentity(role Role) (Identity, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return Identity{}, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return Identity{}, fmt.Errorf("events: new %s nkey: %w", role, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return Identity{}, fmt.Errorf("events: new %s nkey: %w", role, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return Identity{}, fmt.Errorf("events: new %s nkey: %w", role, err)
	}
	// Wipe zeroes the key pair's own copy of the seed.
	return Identity{Role: role, Public: pub, Seed: slices.Clone(seed)}, nil
}

// IdentityFromSeed rebuilds an identity from its seed (the public key is derived).
func IdentityFromSeed(role Role, seed []byte) (Identity, error) {
	// FromSeed keeps the slice it is given and Wipe zeroes it: hand it a copy.
	kp, err := nkeys.FromSeed(slices.Clone(seed))
	if err != nil {
		// nkeys' errors never quote the seed.
		return Identity{}, fmt.Errorf("events: %s nkey seed: %w", role, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return Identity{}, fmt.Errorf("events: %s nkey seed: %w", role, err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return Identity{}, fmt.Errorf("events: %s nkey seed is not a user seed", role)
	}
	return Identity{Role: role, Public: pub, Seed: slices.Clone(seed)}, nil
}

// AuthorizedKeys are the public nkeys the embedded server admits, by role. They are not
// secrets: the node keeps them in a file beside the JetStream store so that a node that starts
// sealed can still run its server with the right users before anyone unseals it.
type AuthorizedKeys struct {
	Node     []string `json:"node,omitempty"`
	Operator []string `json:"operator,omitempty"`
	Watcher  []string `json:"watcher,omitempty"`
}

// Add returns keys with id's public key added under its role.
func (k AuthorizedKeys) Add(id Identity) AuthorizedKeys {
	out := AuthorizedKeys{Node: slices.Clone(k.Node), Operator: slices.Clone(k.Operator), Watcher: slices.Clone(k.Watcher)}
	switch id.Role {
	case RoleNode:
		out.Node = append(out.Node, id.Public)
	case RoleOperator:
		out.Operator = append(out.Operator, id.Public)
	case RoleWatcher:
		out.Watcher = append(out.Watcher, id.Public)
	}
	return out
}

// Merge returns the keys of both.
func (k AuthorizedKeys) Merge(o AuthorizedKeys) AuthorizedKeys {
	return AuthorizedKeys{
		Node:     append(slices.Clone(k.Node), o.Node...),
		Operator: append(slices.Clone(k.Operator), o.Operator...),
		Watcher:  append(slices.Clone(k.Watcher), o.Watcher...),
	}
}

// Empty reports whether no key is authorised.
func (k AuthorizedKeys) Empty() bool {
	return len(k.Node)+len(k.Operator)+len(k.Watcher) == 0
}

// Validate checks every key is a user public key and appears once.
func (k AuthorizedKeys) Validate() error {
	seen := map[string]bool{}
	for _, l := range []struct {
		role Role
		keys []string
	}{{RoleNode, k.Node}, {RoleOperator, k.Operator}, {RoleWatcher, k.Watcher}} {
		for i, p := range l.keys {
			if !nkeys.IsValidPublicUserKey(p) {
				// Not quoted: a seed pasted where a public key belongs is a secret.
				return fmt.Errorf("events: authorized %s key %d is not an nkey user public key", l.role, i+1)
			}
			if seen[p] {
				return fmt.Errorf("events: authorized key %s appears twice", p)
			}
			seen[p] = true
		}
	}
	return nil
}

// AuthorizedKeysFile is the file, in the embedded server's data directory, that keeps the
// authorised public keys across restarts.
const AuthorizedKeysFile = "authorized_keys.json"

// ReadAuthorizedKeys reads the keys file; a missing file is no keys and no error.
func ReadAuthorizedKeys(path string) (AuthorizedKeys, error) {
	var k AuthorizedKeys
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return k, fmt.Errorf("events: authorized keys: %w", err)
	}
	if err := json.Unmarshal(b, &k); err != nil {
		return k, fmt.Errorf("events: authorized keys %s: %w", path, err)
	}
	if err := k.Validate(); err != nil {
		return k, fmt.Errorf("events: authorized keys %s: %w", path, err)
	}
	return k, nil
}

// WriteAuthorizedKeys replaces the keys file atomically (write, sync, rename).
func WriteAuthorizedKeys(path string, k AuthorizedKeys) error {
	if err := k.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return fmt.Errorf("events: authorized keys: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("events: authorized keys: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("events: authorized keys: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("events: authorized keys: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("events: authorized keys: %w", err)
	}
	return nil
}

// Permissions is what role may do on cluster's subjects; nil (everything) for a node.
func Permissions(cluster string, role Role) *server.Permissions {
	switch role {
	case RoleOperator:
		return &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{EventsWildcard(cluster), InjectSubject(cluster)}},
			Subscribe: &server.SubjectPermission{Allow: []string{
				TransitionsWildcard(cluster), RejectedSubject(cluster), "_INBOX.>",
			}},
		}
	case RoleWatcher:
		return &server.Permissions{
			Publish:   &server.SubjectPermission{Deny: []string{">"}},
			Subscribe: &server.SubjectPermission{Allow: []string{TransitionsWildcard(cluster)}},
		}
	}
	return nil
}

// nkeyUsers turns the keys into the server's users with their permissions.
func nkeyUsers(cluster string, k AuthorizedKeys) []*server.NkeyUser {
	var users []*server.NkeyUser
	for _, r := range []struct {
		role Role
		keys []string
	}{{RoleNode, k.Node}, {RoleOperator, k.Operator}, {RoleWatcher, k.Watcher}} {
		for _, p := range r.keys {
			users = append(users, &server.NkeyUser{Nkey: p, Permissions: Permissions(cluster, r.role)})
		}
	}
	return users
}

// Identities are a cluster's three nkey users, created together at sys/init.
type Identities struct {
	Node, Operator, Watcher Identity
}

// NewIdentities creates a node, an operator and a watcher identity.
func NewIdentities() (Identities, error) {
	var ids Identities
	var err error
	if ids.Node, err = NewIdentity(RoleNode); err != nil {
		return ids, err
	}
	if ids.Operator, err = NewIdentity(RoleOperator); err != nil {
		return ids, err
	}
	ids.Watcher, err = NewIdentity(RoleWatcher)
	return ids, err
}

// Keys are the identities' public keys.
func (ids Identities) Keys() AuthorizedKeys {
	return AuthorizedKeys{}.Add(ids.Node).Add(ids.Operator).Add(ids.Watcher)
}

// WriteSeedFile writes id's seed to path, readable by its owner only (0600), as nats.go's
// nkey seed option and the nats CLI's --nkey read it. An existing file is replaced.
func WriteSeedFile(path string, id Identity) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("events: write %s seed: %w", id.Role, err)
	}
	_, werr := f.Write(append(slices.Clone(id.Seed), '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("events: write %s seed: %w", id.Role, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("events: write %s seed: %w", id.Role, err)
	}
	return nil
}

// NATSOption authenticates a nats.go connection as id, signing the server's nonce with the
// seed held in memory.
func (i Identity) NATSOption() nats.Option {
	seed := slices.Clone(i.Seed)
	return nats.Nkey(i.Public, func(nonce []byte) ([]byte, error) {
		kp, err := nkeys.FromSeed(slices.Clone(seed))
		if err != nil {
			return nil, fmt.Errorf("events: %s nkey: %w", i.Role, err)
		}
		return kp.Sign(nonce)
	})
}
