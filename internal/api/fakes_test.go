package api

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/database"
)

// calls records what a fake was asked, one line per call ("Method arg arg…"), and answers
// each method with the error set for it.
type calls struct {
	mu   sync.Mutex
	log  []string
	errs map[string]error
}

// call records a call and returns the error set for the method.
func (c *calls) call(method string, args ...any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := []string{method}
	for _, a := range args {
		parts = append(parts, fmt.Sprint(a))
	}
	c.log = append(c.log, strings.Join(parts, " "))
	return c.errs[method]
}

// fail makes method answer err.
func (c *calls) fail(method string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.errs == nil {
		c.errs = map[string]error{}
	}
	c.errs[method] = err
}

// got is the calls so far.
func (c *calls) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

// fakeNode is a node whose status the test sets; its actions are recorded.
type fakeNode struct {
	calls
	cfg         core.Config
	initialized bool
	reached     string
	sealed      bool
	active      bool
	activeSince time.Time
	leaderID    string
	leaderAddr  string
	raftLeader  string
	applied     uint64
	token       string // the root token the fake token store resolves
	initResult  core.InitResult
	peers       []core.RaftServer
	lifecycle   core.Lifecycle
	// watches serves WatchLifecycle; watchBuffer, when set, replaces the buffer asked for and
	// preload is published as the watch opens (a reader that already fell behind).
	watches     core.WatchHub
	watchBuffer int
	preload     []fsm.Transition
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		cfg:         core.Config{NodeID: "n1", Cluster: "baton-test", APIAddr: "http://n1.example:8200"},
		initialized: true, active: true, token: "root-token", applied: 42, raftLeader: "10.0.0.1:8201",
	}
}

func (f *fakeNode) Config() core.Config             { return f.cfg }
func (f *fakeNode) Initialized() bool               { return f.initialized }
func (f *fakeNode) ReachedCluster() string          { return f.reached }
func (f *fakeNode) Sealed() bool                    { return f.sealed }
func (f *fakeNode) IsActive() bool                  { return f.active }
func (f *fakeNode) ActiveSince() time.Time          { return f.activeSince }
func (f *fakeNode) LeaderAPIAddr() (string, string) { return f.leaderID, f.leaderAddr }
func (f *fakeNode) RaftStatus() (string, uint64)    { return f.raftLeader, f.applied }
func (f *fakeNode) Lifecycle(withApplied bool) core.Lifecycle {
	_ = f.call("Lifecycle", withApplied)
	return f.lifecycle
}

func (f *fakeNode) WatchLifecycle(buffer int) *core.LifecycleWatch {
	_ = f.call("WatchLifecycle")
	if f.watchBuffer > 0 {
		buffer = f.watchBuffer
	}
	w := f.watches.Subscribe(buffer)
	if len(f.preload) > 0 {
		f.watches.Publish(f.preload)
	}
	return w
}

// NATSCredentials answers a fixed seed per role; a role it does not know is an invalid request.
func (f *fakeNode) NATSCredentials(role string) (core.NATSCredentials, error) {
	if err := f.call("NATSCredentials", role); err != nil {
		return core.NATSCredentials{}, err
	}
	if role != "node" && role != "operator" && role != "watcher" {
		return core.NATSCredentials{}, fmt.Errorf("%w: unknown role", core.ErrInvalidRequest)
	}
	return core.NATSCredentials{Role: role, PublicKey: "U-" + role, Seed: "SU-" + role, Cluster: f.cfg.Cluster, URL: "nats://127.0.0.1:4222"}, nil
}

func (f *fakeNode) Init(_ context.Context, rootToken string) (core.InitResult, error) {
	return f.initResult, f.call("Init", rootToken)
}
func (f *fakeNode) Unseal(_ context.Context, key string) error { return f.call("Unseal", key) }
func (f *fakeNode) Seal(context.Context) error                 { return f.call("Seal") }
func (f *fakeNode) RequestStepDown(context.Context) error      { return f.call("RequestStepDown") }
func (f *fakeNode) Join(addr string) error                     { return f.call("Join", addr) }
func (f *fakeNode) Challenge(id string) (string, error) {
	return "Y2hhbGxlbmdl", f.call("Challenge", id)
}
func (f *fakeNode) Answer(_ context.Context, a core.JoinAnswer) (core.JoinGrant, error) {
	return core.JoinGrant{Cert: []byte("c"), CACert: []byte("ca"), CAKeySealed: []byte("k"), MAC: []byte("m"),
		Peers: []core.RaftServer{{ID: "n1", Address: "10.0.0.1:8201", Voter: true}}}, f.call("Answer", a.ServerID, a.Answer, a.ClusterAddr, a.APIAddr, string(a.CSR))
}
func (f *fakeNode) RemovePeer(_ context.Context, id string) error { return f.call("RemovePeer", id) }
func (f *fakeNode) Peers() ([]core.RaftServer, uint64, error) {
	return f.peers, f.applied, f.call("Peers")
}

// fakeSecrets is a secrets side with fixed contents; its actions are recorded.
type fakeSecrets struct {
	calls
	listing   database.CatalogListing
	entry     catalog.Entry
	mounts    map[string]database.Mount
	config    map[string]any
	configs   []string
	role      database.Role
	static    database.StaticRole
	secret    database.Secret
	lease     database.Lease
	leaseKeys []string
	ttls      database.MountTTLs
	// roleWarnings is what WriteRole answers.
	roleWarnings []string
	reloads      map[string]database.Reload
	staticCreds  map[string]any
	conns        []string
}

func newFakeSecrets() *fakeSecrets {
	return &fakeSecrets{mounts: map[string]database.Mount{
		"database/": {Path: "database/", Type: "database", Description: "db", Accessor: "database_0a1b2c3d"},
		"team/db/":  {Path: "team/db/", Type: "database"},
	}}
}

func (f *fakeSecrets) ListPlugins() database.CatalogListing { return f.listing }
func (f *fakeSecrets) ListPluginsOfType(typ string) []string {
	return f.listing.Names[catalog.Type(typ)]
}
func (f *fakeSecrets) ReadPlugin(typ, name, version string) (catalog.Entry, error) {
	return f.entry, f.call("ReadPlugin", typ, name, version)
}
func (f *fakeSecrets) RegisterPlugin(_ context.Context, e catalog.Entry) error {
	return f.call("RegisterPlugin", e.Type, e.Name, e.Version, e.SHA256, e.Command, e.Args, e.Env)
}
func (f *fakeSecrets) DeletePlugin(_ context.Context, typ, name, version string) error {
	return f.call("DeletePlugin", typ, name, version)
}
func (f *fakeSecrets) Mounts() map[string]database.Mount { return f.mounts }
func (f *fakeSecrets) ReadMount(path string) (database.Mount, bool) {
	if !strings.HasSuffix(path, "/") {
		path += "/" // as the engine normalises it
	}
	m, ok := f.mounts[path]
	return m, ok
}

// FindMount is the longest mount p lies under, as the engine's.
func (f *fakeSecrets) FindMount(p string) (string, string) {
	var ms []string
	for m := range f.mounts {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return len(ms[i]) > len(ms[j]) })
	for _, m := range ms {
		if strings.HasPrefix(p+"/", m) {
			return m, strings.TrimPrefix(strings.TrimPrefix(p, strings.TrimSuffix(m, "/")), "/")
		}
	}
	return "", ""
}
func (f *fakeSecrets) EnableMount(_ context.Context, m database.Mount) error {
	if m.DefaultLeaseTTL != 0 || m.MaxLeaseTTL != 0 {
		return f.call("EnableMount", m.Path, m.Type, m.Description, m.PluginName, m.PluginVersion, m.DefaultLeaseTTL, m.MaxLeaseTTL)
	}
	return f.call("EnableMount", m.Path, m.Type, m.Description, m.PluginName, m.PluginVersion)
}
func (f *fakeSecrets) DisableMount(_ context.Context, path string, src database.Source) error {
	return f.call("DisableMount", path, src.From)
}
func (f *fakeSecrets) Reload(_ context.Context, plugin, mount string, src database.Source) (uint64, error) {
	return 7, f.call("Reload", plugin, mount, src.From, src.EventID != "", src.ReloadID != "")
}
func (f *fakeSecrets) ReloadStatus(id string) (database.Reload, bool) {
	_ = f.call("ReloadStatus", id)
	r, ok := f.reloads[id]
	return r, ok
}
func (f *fakeSecrets) PluginConnections(mount, plugin string) []string { return f.conns }
func (f *fakeSecrets) ListConfigs(string) []string                     { return f.configs }
func (f *fakeSecrets) ReadConfig(mount, name string) (map[string]any, error) {
	return f.config, f.call("ReadConfig", mount, name)
}
func (f *fakeSecrets) WriteConfig(_ context.Context, mount, name string, in database.ConfigInput, src database.Source) error {
	var details []string
	for k, v := range in.Details {
		details = append(details, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(details)
	return f.call("WriteConfig", mount, name, in.PluginName, in.AllowedRoles, details, src.From)
}
func (f *fakeSecrets) DeleteConfig(_ context.Context, mount, name string, _ database.Source) error {
	return f.call("DeleteConfig", mount, name)
}
func (f *fakeSecrets) Reset(_ context.Context, mount, name string, _ database.Source) error {
	return f.call("Reset", mount, name)
}
func (f *fakeSecrets) RotateRoot(_ context.Context, mount, name string, _ database.Source) error {
	return f.call("RotateRoot", mount, name)
}
func (f *fakeSecrets) ListRoles(string) []string { return nil }
func (f *fakeSecrets) ReadRole(mount, name string) (database.Role, error) {
	return f.role, f.call("ReadRole", mount, name)
}
func (f *fakeSecrets) WriteRole(_ context.Context, r database.Role) ([]string, error) {
	return f.roleWarnings, f.call("WriteRole", r.Mount, r.Name, r.DBName, r.CreationStatements, r.DefaultTTL, r.MaxTTL)
}
func (f *fakeSecrets) ReadMountTTLs(path string) (database.Mount, database.MountTTLs, error) {
	return f.mounts[database.NormalizeMount(path)], f.ttls, f.call("ReadMountTTLs", path)
}
func (f *fakeSecrets) TuneMount(_ context.Context, path string, t database.Tune) error {
	show := func(d *time.Duration) string {
		if d == nil {
			return "-"
		}
		return d.String()
	}
	desc := "-"
	if t.Description != nil {
		desc = fmt.Sprintf("%q", *t.Description)
	}
	return f.call("TuneMount", path, show(t.DefaultLeaseTTL), show(t.MaxLeaseTTL), desc)
}
func (f *fakeSecrets) DeleteRole(_ context.Context, mount, name string) error {
	return f.call("DeleteRole", mount, name)
}
func (f *fakeSecrets) Creds(_ context.Context, mount, role, display string) (database.Secret, error) {
	return f.secret, f.call("Creds", mount, role, display)
}
func (f *fakeSecrets) Lookup(id string) (database.Lease, error) { return f.lease, f.call("Lookup", id) }
func (f *fakeSecrets) Renew(_ context.Context, id string, inc time.Duration) (database.Secret, error) {
	return f.secret, f.call("Renew", id, inc)
}
func (f *fakeSecrets) Revoke(_ context.Context, id string) error { return f.call("Revoke", id) }
func (f *fakeSecrets) RevokePrefix(_ context.Context, prefix string, force bool) error {
	return f.call("RevokePrefix", prefix, force)
}
func (f *fakeSecrets) PutPasswordPolicy(_ context.Context, name, text string) error {
	return f.call("PutPasswordPolicy", name, text)
}
func (f *fakeSecrets) ReadPasswordPolicy(name string) (string, error) {
	return "length = 20", f.call("ReadPasswordPolicy", name)
}
func (f *fakeSecrets) ListPasswordPolicies() []string {
	_ = f.call("ListPasswordPolicies")
	return f.leaseKeys
}
func (f *fakeSecrets) DeletePasswordPolicy(_ context.Context, name string) error {
	return f.call("DeletePasswordPolicy", name)
}
func (f *fakeSecrets) GeneratePassword(name string) (string, error) {
	return "generated-pw", f.call("GeneratePassword", name)
}
func (f *fakeSecrets) LookupPrefix(prefix string) []string {
	_ = f.call("LookupPrefix", prefix)
	return f.leaseKeys
}
func (f *fakeSecrets) ListStaticRoles(string) []string { return nil }
func (f *fakeSecrets) ReadStaticRole(mount, name string) (database.StaticRole, error) {
	return f.static, f.call("ReadStaticRole", mount, name)
}
func (f *fakeSecrets) WriteStaticRole(_ context.Context, r database.StaticRole) error {
	return f.call("WriteStaticRole", r.Mount, r.Name, r.DBName, r.Username, r.RotationPeriod)
}
func (f *fakeSecrets) DeleteStaticRole(_ context.Context, mount, name string) error {
	return f.call("DeleteStaticRole", mount, name)
}
func (f *fakeSecrets) StaticCreds(mount, name string) (map[string]any, error) {
	return f.staticCreds, f.call("StaticCreds", mount, name)
}
func (f *fakeSecrets) RotateStaticRole(_ context.Context, mount, name string) error {
	return f.call("RotateStaticRole", mount, name)
}

var (
	_ Node    = (*fakeNode)(nil)
	_ Secrets = (*fakeSecrets)(nil)
)

// fakePolicies is a policy store in memory that refuses what the real one refuses (it uses
// the ACL engine's parser and built-in rules); its writes are recorded.
type fakePolicies struct {
	calls
	mu    sync.Mutex
	texts map[string]string
}

func newFakePolicies() *fakePolicies {
	return &fakePolicies{texts: map[string]string{acl.DefaultName: acl.DefaultPolicyHCL}}
}

func (f *fakePolicies) Put(_ context.Context, name, text string) error {
	if err := f.call("Put", name); err != nil {
		return err
	}
	n := acl.NormalizeName(name)
	if err := acl.CheckWrite(n); err != nil {
		return fmt.Errorf("%w: %w", auth.ErrInvalid, err)
	}
	if _, err := acl.Parse(n, []byte(text)); err != nil {
		return fmt.Errorf("%w: %w", auth.ErrInvalid, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.texts[n] = text
	return nil
}

func (f *fakePolicies) Get(name string) (auth.Policy, error) {
	n := acl.NormalizeName(name)
	if n == acl.RootName {
		return auth.Policy{Name: n}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.texts[n]
	if !ok {
		return auth.Policy{}, fmt.Errorf("%w: %q", auth.ErrNotFound, n)
	}
	return auth.Policy{Name: n, Text: t}, nil
}

func (f *fakePolicies) List() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []string{acl.RootName}
	for n := range f.texts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (f *fakePolicies) Delete(_ context.Context, name string) error {
	if err := f.call("Delete", name); err != nil {
		return err
	}
	n := acl.NormalizeName(name)
	if err := acl.CheckDelete(n); err != nil {
		return fmt.Errorf("%w: %w", auth.ErrInvalid, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.texts, n)
	return nil
}

// snapshot is the stored texts, for "nothing changed" checks.
func (f *fakePolicies) snapshot() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.texts {
		out[k] = v
	}
	return out
}

// fakeTokens is a token store: the node's root token resolves to a root identity, the tokens
// in ids to theirs, anything else is refused; its operations are recorded and answer what the
// test set.
type fakeTokens struct {
	calls
	node *fakeNode
	ids  map[string]auth.Identity
	// auth answers Create and Renew; info answers the lookups; accessors answers the list.
	auth      auth.Auth
	info      auth.TokenInfo
	accessors []string
	lastReq   auth.CreateRequest
	resolved  int
}

func newFakeTokens(n *fakeNode) *fakeTokens {
	return &fakeTokens{node: n, ids: map[string]auth.Identity{}}
}

func (f *fakeTokens) Resolve(_ context.Context, token string) (auth.Identity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resolved++
	if token != "" && token == f.node.token {
		return auth.Identity{Accessor: "root-accessor", Policies: []string{"root"}, DisplayName: "root", Root: true}, nil
	}
	if id, ok := f.ids[token]; ok && token != "" {
		return id, nil
	}
	return auth.Identity{}, fmt.Errorf("token: %w", auth.ErrPermissionDenied)
}

func (f *fakeTokens) LeaseOwner(id auth.Identity) (string, error) { return "owner-" + id.Accessor, nil }

func (f *fakeTokens) Create(_ context.Context, caller auth.Identity, req auth.CreateRequest) (auth.Auth, error) {
	f.mu.Lock()
	f.lastReq = req
	f.mu.Unlock()
	return f.auth, f.call("Create", caller.Accessor, req.Orphan, req.NoParent)
}
func (f *fakeTokens) Lookup(token string) (auth.TokenInfo, error) {
	return f.info, f.call("Lookup", token)
}
func (f *fakeTokens) LookupAccessor(a string) (auth.TokenInfo, error) {
	return f.info, f.call("LookupAccessor", a)
}
func (f *fakeTokens) Renew(_ context.Context, token string, inc time.Duration) (auth.Auth, error) {
	return f.auth, f.call("Renew", token, inc)
}
func (f *fakeTokens) Revoke(_ context.Context, token string) error { return f.call("Revoke", token) }
func (f *fakeTokens) RevokeOrphan(_ context.Context, token string) error {
	return f.call("RevokeOrphan", token)
}
func (f *fakeTokens) RevokeAccessor(_ context.Context, a string) error {
	return f.call("RevokeAccessor", a)
}
func (f *fakeTokens) ListAccessors() ([]string, error) { return f.accessors, f.call("ListAccessors") }

// fakeRootGen is sys/generate-root with the real flow's rules over a fixed key.
type fakeRootGen struct {
	calls
}

func (f *fakeRootGen) Status() auth.RootGenStatus {
	return auth.RootGenStatus{Required: 1, OTPLength: auth.OTPLength}
}
func (f *fakeRootGen) Start(otp string) (auth.RootGenStatus, error) {
	return auth.RootGenStatus{Started: true, Nonce: "n1", Required: 1, OTP: otp}, f.call("Start", otp)
}
func (f *fakeRootGen) Cancel() { _ = f.call("Cancel") }
func (f *fakeRootGen) Update(_ context.Context, key []byte, nonce string) (auth.RootGenStatus, error) {
	return auth.RootGenStatus{Complete: true, EncodedToken: "enc"}, f.call("Update", len(key), nonce)
}
