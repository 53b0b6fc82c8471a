package database

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"

	"github.com/baton-hq/baton/internal/faults"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/rollback"
	"github.com/baton-hq/baton/wal"
)

// ConfigInput is a write to database/config/:name. Nil fields keep their stored value on an
// update (OpenBao merges updates the same way).
type ConfigInput struct {
	PluginName             string
	PluginVersion          *string
	VerifyConnection       *bool
	AllowedRoles           []string
	RootRotationStatements []string
	PasswordPolicy         *string
	// Details is everything else: the plugin's own settings (connection_url, username,
	// password, …), merged over the stored ones.
	Details map[string]any
}

// Source says who asked, for the lifecycle record.
type Source struct {
	EventID string
	From    command.Source
	// ReloadID is the reload id the API answered, recorded with a reload for its status
	// (sys/plugins/reload/backend/status); empty for every other change.
	ReloadID string
}

// APISource is a change asked through the HTTP API.
var APISource = Source{From: command.SourceAPI}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", state.ErrInvalid, fmt.Sprintf(format, args...))
}

// WriteConfig creates or updates a connection. With verify_connection (the default) the
// plugin is started with the new config and must connect before anything is stored.
func (e *Engine) WriteConfig(ctx context.Context, mount, name string, in ConfigInput, src Source) error {
	if err := CheckName("connection", name); err != nil {
		return err
	}
	if err := e.cluster.VerifyActive(ctx); err != nil {
		return err
	}
	mount = state.NormalizeMount(mount)
	key := state.Key(mount, name)
	var old state.Connection
	var exists bool
	var mountOK bool
	e.cluster.State().View(func(d *state.Data) {
		old, exists = d.Connections[key]
		m, ok := d.Mounts[mount]
		mountOK = ok && m.Type == "database"
	})
	if !mountOK {
		return fmt.Errorf("%w: no database secrets engine is mounted at %s", state.ErrNotFound, mount)
	}
	c := state.Connection{Mount: mount, Name: name, VerifyConnection: true}
	details := map[string]any{}
	if exists {
		c = old
		prev, err := e.rt.OpenConfig(old.Config)
		if err != nil {
			return err
		}
		details = prev
	}
	if in.PluginName != "" {
		c.PluginName = in.PluginName
	}
	if c.PluginName == "" {
		return invalid("plugin_name is required (the catalog name of a database plugin, e.g. postgresql-database-plugin)")
	}
	if in.PluginVersion != nil {
		c.PluginVersion = *in.PluginVersion
		if c.PluginVersion != "" {
			v, err := catalog.CanonicalVersion(c.PluginVersion)
			if err != nil {
				return invalid("plugin_version: %v", err)
			}
			c.PluginVersion = v
		}
	}
	if in.VerifyConnection != nil {
		c.VerifyConnection = *in.VerifyConnection
	}
	if in.AllowedRoles != nil {
		c.AllowedRoles = in.AllowedRoles
	}
	if in.RootRotationStatements != nil {
		c.RootRotationStatements = in.RootRotationStatements
	}
	if in.PasswordPolicy != nil {
		if err := e.checkConnectionPolicy(*in.PasswordPolicy); err != nil {
			return err
		}
		c.PasswordPolicy = *in.PasswordPolicy
	}
	maps.Copy(details, in.Details)
	var entry catalog.Entry
	var lookupErr error
	e.cluster.State().View(func(d *state.Data) {
		entry, lookupErr = d.Catalog.Get(string(catalog.TypeDatabase), c.PluginName, c.PluginVersion)
	})
	if lookupErr != nil {
		if c.PluginVersion != "" {
			return invalid("plugin %q version %s is not registered in the catalog (register it with sys/plugins/catalog/database/%s)", c.PluginName, c.PluginVersion, c.PluginName)
		}
		return invalid("plugin %q is not registered in the catalog as a database plugin (register it with sys/plugins/catalog/database/%s)", c.PluginName, c.PluginName)
	}
	entry, err := e.rt.OpenEntry(entry)
	if err != nil {
		return err
	}
	// Initialise a throwaway instance with the new config: the plugin may rewrite the config
	// it wants stored, and with verify_connection it must log in first.
	pc, resp, err := e.rt.OpenTemp(ctx, key, "config", entry, dbplugin.InitializeRequest{Config: details, VerifyConnection: c.VerifyConnection})
	if err != nil {
		return invalid("error creating database object: %v", err)
	}
	_ = pc.Close()
	stored := details
	if resp.Config != nil {
		stored = resp.Config
	}
	sealed, err := e.rt.SealConfig(stored)
	if err != nil {
		return err
	}
	c.Config = sealed
	c.Redacted = Redact(stored)
	_, err = e.cluster.Propose(ctx, state.TypeConnPut, src.EventID, src.From, state.ConnPut{Connection: c})
	return err
}

var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|\S+)`)

// Redact returns what a config read shows: never the password, and a connection URL with
// any credential in it masked.
func Redact(cfg map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range cfg {
		switch k {
		case "password", "private_key", "tls_key":
			continue
		case "connection_url":
			s, _ := v.(string)
			out[k] = RedactURL(s)
		default:
			out[k] = v
		}
	}
	return out
}

// RedactURL masks the password of a URL or key=value DSN; templates stay as they are.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "{{password}}" {
			u.User = url.UserPassword(u.User.Username(), "redacted")
			return strings.Replace(u.String(), "redacted", "*****", 1)
		}
		return s
	}
	return dsnPassword.ReplaceAllStringFunc(s, func(m string) string {
		if strings.Contains(m, "{{password}}") {
			return m
		}
		i := strings.Index(m, "=")
		return m[:i+1] + "*****"
	})
}

// ReadConfig is database/config/:name as OpenBao shows it.
func (e *Engine) ReadConfig(mount, name string) (map[string]any, error) {
	key := state.Key(mount, name)
	var c state.Connection
	var ok bool
	e.cluster.State().View(func(d *state.Data) { c, ok = d.Connections[key] })
	if !ok {
		return nil, fmt.Errorf("%w: connection %q", state.ErrNotFound, key)
	}
	roles := c.AllowedRoles
	if roles == nil {
		roles = []string{}
	}
	stmts := c.RootRotationStatements
	if stmts == nil {
		stmts = []string{}
	}
	return map[string]any{
		"plugin_name":                        c.PluginName,
		"plugin_version":                     c.PluginVersion,
		"verify_connection":                  c.VerifyConnection,
		"allowed_roles":                      roles,
		"root_credentials_rotate_statements": stmts,
		"password_policy":                    c.PasswordPolicy,
		"connection_details":                 c.Redacted,
	}, nil
}

// ListConfigs lists a mount's connection names.
func (e *Engine) ListConfigs(mount string) []string {
	return e.listKeys(mount, func(d *state.Data) []string { return slices.Collect(maps.Keys(d.Connections)) })
}

func (e *Engine) listKeys(mount string, keys func(d *state.Data) []string) []string {
	prefix := state.NormalizeMount(mount)
	var out []string
	e.cluster.State().View(func(d *state.Data) {
		for _, k := range keys(d) {
			if strings.HasPrefix(k, prefix) {
				out = append(out, strings.TrimPrefix(k, prefix))
			}
		}
	})
	sort.Strings(out)
	return out
}

// DeleteConfig deletes a connection; its plugin instance is closed by the transition. A
// connection that is not there is deleted already: success, from HTTP (as OpenBao answers)
// and NATS alike, as DisableMount does for a mount.
func (e *Engine) DeleteConfig(ctx context.Context, mount, name string, src Source) error {
	_, err := e.cluster.Propose(ctx, state.TypeConnDelete, src.EventID, src.From, state.ConnRef{Mount: mount, Name: name})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	return err
}

// Reset closes a connection's plugin instance; its next use re-initialises it.
func (e *Engine) Reset(ctx context.Context, mount, name string, src Source) error {
	_, err := e.cluster.Propose(ctx, state.TypeConnReset, src.EventID, src.From, state.ConnRef{Mount: mount, Name: name})
	return err
}

// Reload stops the instances of a plugin (or of a mount's connections); each starts again
// on its next use, from the catalog entry as it is now.
// A plugin that is not in the catalog, or a mount that does not exist, is refused here, before
// anything is proposed, so a typo leaves no entry in the log (Apply refuses it too, should the
// catalog change in between).
func (e *Engine) Reload(ctx context.Context, pluginName, mount string, src Source) (uint64, error) {
	var known, mounted bool
	e.cluster.State().View(func(d *state.Data) {
		known = pluginName == "" || d.CatalogHasName(pluginName)
		_, mounted = d.Mounts[state.NormalizeMount(mount)]
		mounted = mounted || mount == ""
	})
	if !known {
		return 0, fmt.Errorf("%w: no plugin %q in the catalog", ErrNotFound, pluginName)
	}
	if !mounted {
		return 0, fmt.Errorf("%w: no mount at %s", ErrNotFound, state.NormalizeMount(mount))
	}
	r, err := e.cluster.Propose(ctx, state.TypePluginReload, src.EventID, src.From, state.PluginReload{PluginName: pluginName, Mount: mount, ReloadID: src.ReloadID})
	if err != nil {
		return 0, err
	}
	return r.Index, nil
}

// ReloadStatus reads a recorded reload by its id from this node's state (false when unknown
// or forgotten past state.MaxReloads).
func (e *Engine) ReloadStatus(id string) (Reload, bool) {
	var r Reload
	var ok bool
	e.cluster.State().View(func(d *state.Data) { r, ok = d.Reloads[id] })
	return r, ok
}

// WriteRole creates or replaces a dynamic role. It answers OpenBao's warnings when the role's
// TTLs are above what its mount allows (the role is stored as written; its credentials are
// capped when issued).
func (e *Engine) WriteRole(ctx context.Context, r state.Role) ([]string, error) {
	if err := CheckName("role", r.Name); err != nil {
		return nil, err
	}
	if _, err := e.cluster.Propose(ctx, state.TypeRolePut, "", command.SourceAPI, state.RolePut{Role: r}); err != nil {
		return nil, err
	}
	return e.roleWarnings(r), nil
}

// ReadRole returns a role.
func (e *Engine) ReadRole(mount, name string) (state.Role, error) {
	var r state.Role
	var ok bool
	e.cluster.State().View(func(d *state.Data) { r, ok = d.Roles[state.Key(mount, name)] })
	if !ok {
		return r, fmt.Errorf("%w: role %q", state.ErrNotFound, name)
	}
	return r, nil
}

// ListRoles lists a mount's dynamic roles.
func (e *Engine) ListRoles(mount string) []string {
	return e.listKeys(mount, func(d *state.Data) []string { return slices.Collect(maps.Keys(d.Roles)) })
}

// DeleteRole deletes a dynamic role; its leases stay valid until they end.
func (e *Engine) DeleteRole(ctx context.Context, mount, name string) error {
	_, err := e.cluster.Propose(ctx, state.TypeRoleDelete, "", command.SourceAPI, state.RoleRef{Mount: mount, Name: name})
	return err
}

// Secret is an issued credential with its lease.
type Secret struct {
	LeaseID       string
	LeaseDuration time.Duration
	Renewable     bool
	Data          map[string]any
	// Warnings are OpenBao's, for the reply's "warnings" (a TTL capped to the max in effect).
	Warnings []string
}

// Creds issues a credential for a role: NewUser on the plugin, then the lease through Raft.
func (e *Engine) Creds(ctx context.Context, mount, roleName, displayName string) (Secret, error) {
	mount = state.NormalizeMount(mount)
	var role state.Role
	var conn state.Connection
	var mnt state.Mount
	var okRole, okConn bool
	e.cluster.State().View(func(d *state.Data) {
		mnt = d.Mounts[mount]
		role, okRole = d.Roles[state.Key(mount, roleName)]
		if okRole {
			conn, okConn = d.Connections[state.Key(mount, role.DBName)]
		}
	})
	if !okRole {
		return Secret{}, fmt.Errorf("%w: unknown role: %s", state.ErrNotFound, roleName)
	}
	defer e.rt.BeginIssue(mount)()
	var disabling bool
	e.cluster.State().View(func(d *state.Data) { disabling = d.Mounts[mount].Disabling })
	if disabling {
		return Secret{}, fmt.Errorf("%w: the mount %s is being disabled", state.ErrConflict, mount)
	}
	if !okConn {
		return Secret{}, invalid("role %q names connection %q, which does not exist", roleName, role.DBName)
	}
	if !state.RoleAllowed(conn.AllowedRoles, roleName) {
		return Secret{}, invalid("%q is not an allowed role for connection %q", roleName, role.DBName)
	}
	password, err := e.connectionPassword(conn)
	if err != nil {
		return Secret{}, err
	}
	now := e.cfg.Now().UTC()
	ttl, maxTTL, warnings := e.leaseTTLs(role, mnt)
	exp := now.Add(ttl)
	var username string
	var made dbplugin.Database
	key := state.Key(mount, role.DBName)
	err = e.rt.Call(ctx, key, func(db dbplugin.Database) error {
		made = db
		resp, err := db.NewUser(ctx, dbplugin.NewUserRequest{
			UsernameConfig:     dbplugin.UsernameMetadata{DisplayName: displayName, RoleName: roleName},
			CredentialType:     dbplugin.CredentialTypePassword,
			Password:           password,
			Expiration:         exp,
			Statements:         dbplugin.Statements{Commands: role.CreationStatements},
			RollbackStatements: dbplugin.Statements{Commands: role.RollbackStatements},
		})
		username = resp.Username
		return err
	})
	if err != nil {
		return Secret{}, fmt.Errorf("create user for role %q: %w", roleName, err)
	}
	lease := state.Lease{
		ID: mount + "creds/" + roleName + "/" + rand.Text(), Mount: mount, Role: roleName, DBName: role.DBName,
		Username: username, Issued: now, Expires: exp, MaxExpires: now.Add(maxTTL), Renewable: true, TTL: ttl,
		RevocationStatements: role.RevocationStatements, RenewStatements: role.RenewStatements,
		Owner: leaseOwner(ctx),
	}
	if _, err := e.cluster.Propose(ctx, state.TypeLeasePut, "", command.SourceAPI, state.LeasePut{Lease: lease}); err != nil {
		// No lease, no credential: take the user back rather than leave it unrevocable, on
		// the instance that made it (the connection may be going away).
		del := dbplugin.DeleteUserRequest{Username: username, Statements: dbplugin.Statements{Commands: role.RevocationStatements}}
		bg := context.WithoutCancel(ctx)
		if _, derr := made.DeleteUser(bg, del); derr != nil {
			derr = e.rt.Call(bg, key, func(db dbplugin.Database) error { _, err := db.DeleteUser(bg, del); return err })
			if derr != nil {
				e.log.Error("a user without a lease could not be deleted", "connection", key, "user", username, "error", derr)
			}
		}
		return Secret{}, fmt.Errorf("record lease: %w", err)
	}
	return Secret{LeaseID: lease.ID, LeaseDuration: ttl, Renewable: true, Warnings: warnings,
		Data: map[string]any{"username": username, "password": password}}, nil
}

// Lookup returns a lease.
func (e *Engine) Lookup(id string) (state.Lease, error) {
	var l state.Lease
	var ok bool
	e.cluster.State().View(func(d *state.Data) { l, ok = d.Leases[id] })
	if !ok {
		return l, fmt.Errorf("%w: invalid lease ID %q", state.ErrInvalid, id)
	}
	return l, nil
}

// Renew extends a lease by increment (the role's default TTL when zero), up to its max TTL.
func (e *Engine) Renew(ctx context.Context, id string, increment time.Duration) (Secret, error) {
	l, err := e.Lookup(id)
	if err != nil {
		return Secret{}, err
	}
	if increment <= 0 {
		increment = l.TTL
		if increment <= 0 {
			increment = time.Hour
		}
	}
	now := e.cfg.Now().UTC()
	exp := now.Add(increment)
	var warnings []string
	if exp.After(l.MaxExpires) {
		exp = l.MaxExpires
		warnings = append(warnings, capWarning(increment, l.MaxExpires.Sub(now).Round(time.Second)))
	}
	if !exp.After(now) {
		return Secret{}, invalid("lease %q has reached its max TTL and cannot be renewed", id)
	}
	err = e.rt.Call(ctx, state.Key(l.Mount, l.DBName), func(db dbplugin.Database) error {
		_, err := db.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: l.Username,
			Expiration: &dbplugin.ChangeExpiration{NewExpiration: exp, Statements: dbplugin.Statements{Commands: l.RenewStatements}}})
		return err
	})
	if err != nil {
		return Secret{}, fmt.Errorf("renew lease %q: %w", id, err)
	}
	if _, err := e.cluster.Propose(ctx, state.TypeLeaseRenew, "", command.SourceAPI, state.LeaseRenew{ID: id, Expires: exp.Format(time.RFC3339Nano)}); err != nil {
		return Secret{}, err
	}
	return Secret{LeaseID: id, LeaseDuration: exp.Sub(now), Renewable: exp.Before(l.MaxExpires), Warnings: warnings}, nil
}

// Revoke deletes a lease's user from the database, then the lease. The lease goes only once
// the user is gone, so a revocation interrupted by a failover is finished by the next leader.
func (e *Engine) Revoke(ctx context.Context, id string) error {
	l, err := e.Lookup(id)
	if err != nil {
		return err
	}
	err = e.rt.Call(ctx, state.Key(l.Mount, l.DBName), func(db dbplugin.Database) error {
		_, err := db.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: l.Username, Statements: dbplugin.Statements{Commands: l.RevocationStatements}})
		return err
	})
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("revoke lease %q: %w", id, err)
	}
	_, err = e.cluster.Propose(ctx, state.TypeLeaseDelete, "", command.SourceAPI, state.LeaseDelete{ID: id})
	return err
}

// emitLeaseGauges sets OpenBao's expire.num_leases (every lease) and Baton's
// baton.expire.leases by mount (0 for a mount without leases). The lease loop calls it on
// every tick, so only the active node reports them, as in OpenBao.
func emitLeaseGauges(byMount map[string]int) {
	total := 0
	for m, n := range byMount {
		total += n
		metrics.SetGaugeWithLabels([]string{"baton", "expire", "leases"}, float32(n), []metrics.Label{{Name: "mount", Value: m}})
	}
	metrics.SetGauge([]string{"expire", "num_leases"}, float32(total))
}

// leaseLoop revokes expired leases while this node is active.
func (e *Engine) leaseLoop(ctx context.Context) {
	t := time.NewTicker(e.cfg.LeasePeriod)
	defer t.Stop()
	var nextMarked time.Time // when marked leases that could not be revoked are tried again
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := e.cfg.Now()
		e.rotateDueStatic(ctx, now)
		// Prefix revocations a previous leader (or a failed attempt) left marked go first.
		// A pass already running (an API call's) is left to finish them.
		// After a pass that left some, wait markedRetry before the next: a database that is
		// down is not hammered, nor the log filled, every tick.
		if !now.Before(nextMarked) {
			select {
			case e.revoking <- struct{}{}:
				failed, err := e.revokeMarked(ctx, "")
				<-e.revoking
				if (err != nil || failed > 0) && ctx.Err() == nil {
					e.log.Warn("revoking leases marked by a prefix revocation; retrying later", "not_revoked", failed, "retry_in", markedRetry, "error", err)
					nextMarked = now.Add(markedRetry)
				}
			default:
			}
		}
		var due []string
		byMount, mountOf := map[string]int{}, map[string]string{}
		e.cluster.State().View(func(d *state.Data) {
			for m := range d.Mounts {
				byMount[m] = 0
			}
			for id, l := range d.Leases {
				byMount[l.Mount]++
				if !l.Expires.After(now) && !l.Revoking {
					due = append(due, id)
					mountOf[id] = l.Mount
				}
			}
		})
		emitLeaseGauges(byMount)
		sort.Strings(due)
		for _, id := range due {
			if err := e.Revoke(ctx, id); err != nil {
				if ctx.Err() == nil {
					e.log.Warn("revoking an expired lease", "lease", id, "error", err)
				}
				continue
			}
			metrics.IncrCounterWithLabels([]string{"baton", "expire", "revoked"}, 1, []metrics.Label{{Name: "mount", Value: mountOf[id]}})
		}
	}
}

// rotation is the sealed payload of a root-rotation WAL entry.
type rotation struct {
	Connection string `json:"connection"`
	Username   string `json:"username"`
	Old        string `json:"old"`
	New        string `json:"new"`
}

// RotateRoot rotates a connection's root password as DESIGN.md orders it: WAL committed
// through Raft, then UpdateUser, then the new config and the WAL delete in one command.
// While an earlier rotation of the connection is in flight or being resolved, it waits for
// that (bounded by Config.RotateWait) and then runs; after the bound it answers a
// *PendingError (ErrRotationPending), never a bare lifecycle refusal.
func (e *Engine) RotateRoot(ctx context.Context, mount, name string, src Source) error {
	key := state.Key(mount, name)
	until := time.Now().Add(e.cfg.RotateWait)
	for {
		if err := e.awaitSettled(ctx, key, until); err != nil {
			return err
		}
		err := e.rotateRoot(ctx, mount, name, src)
		if !errors.Is(err, errBeginRefused) {
			return err
		}
		// Another rotation began between the wait and this one's WAL commit: wait for it.
		if !time.Now().Before(until) {
			return &PendingError{Connection: key, State: e.connState(key), RetryAfter: e.cfg.RollbackWindow}
		}
	}
}

// errBeginRefused marks a rotation whose WAL commit the connection's machine refused.
var errBeginRefused = errors.New("rotation refused by the connection's state")

func (e *Engine) rotateRoot(ctx context.Context, mount, name string, src Source) error {
	key := state.Key(mount, name)
	c, cfg, _, err := e.rt.LoadConn(key)
	if err != nil {
		return err
	}
	username, _ := cfg["username"].(string)
	oldPassword, _ := cfg["password"].(string)
	if username == "" || oldPassword == "" {
		return invalid("connection %q has no username and password in its config: nothing to rotate", name)
	}
	newPassword, err := e.connectionPassword(c)
	if err != nil {
		return err
	}
	data, err := json.Marshal(rotation{Connection: key, Username: username, Old: oldPassword, New: newPassword})
	if err != nil {
		return err
	}
	sealed, err := e.cluster.Barrier().Encrypt(data)
	if err != nil {
		return err
	}
	walID := "rotate-" + rand.Text()
	if _, err := e.cluster.Propose(ctx, state.TypeRotateBegin, src.EventID, src.From, state.RotateBegin{
		Mount: mount, Name: name, Entry: wal.Entry{ID: walID, Data: sealed},
	}); err != nil {
		if errors.Is(err, state.ErrConflict) {
			return fmt.Errorf("%w: %w", errBeginRefused, err)
		}
		return err
	}
	faults.Hit(faults.RotateAfterWAL)
	err = e.rt.Call(ctx, key, func(db dbplugin.Database) error {
		_, err := db.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: username,
			Password: &dbplugin.ChangePassword{NewPassword: newPassword, Statements: dbplugin.Statements{Commands: c.RootRotationStatements}}})
		return err
	})
	if err != nil {
		// The WAL entry stays: the rollback manager decides from the database what happened.
		if _, ferr := e.cluster.Propose(context.WithoutCancel(ctx), state.TypeRotateFail, "", command.SourceInternal, state.RotateFail{Mount: mount, Name: name, Reason: "UpdateUser failed"}); ferr != nil {
			e.log.Warn("recording a failed rotation", "connection", key, "error", ferr)
		}
		return fmt.Errorf("rotate root credentials of %q: %w", name, err)
	}
	faults.Hit(faults.RotateAfterDBUpdate)
	cfg["password"] = newPassword
	newSealed, err := e.rt.SealConfig(cfg)
	if err == nil {
		_, err = e.cluster.Propose(ctx, state.TypeRotateCommit, "", command.SourceInternal, state.RotateCommit{
			Mount: mount, Name: name, WALID: walID, Config: newSealed,
		})
	}
	if err != nil {
		// Hand the entry to the rollback manager now (it rolls forward: the new password is in
		// force) rather than leave the connection rotating until the entry's minimum age.
		if _, ferr := e.cluster.Propose(context.WithoutCancel(ctx), state.TypeRotateFail, "", command.SourceInternal, state.RotateFail{Mount: mount, Name: name, Reason: "storing the rotated config failed"}); ferr != nil {
			e.log.Warn("recording a failed rotation", "connection", key, "error", ferr)
		}
		return fmt.Errorf("store rotated root credentials of %q: %w", name, err)
	}
	faults.Hit(faults.RotateAfterCommit)
	return nil
}

// rollbackRootRotation resolves an interrupted root rotation from what the database says:
//   - the stored password is already the entry's new one: the rotation was committed; the
//     entry goes;
//   - the entry's new password logs in: roll forward at once, committing the new config with
//     the entry's delete (an old leader's UpdateUser still in flight can only set that same
//     password, and no handler ever sets the old one back);
//   - otherwise, once the rollback window has passed (rollbackNotBefore): if the stored
//     config logs in, the rotation never reached the database and the entry goes; if neither
//     password logs in, the handler fails and is retried with backoff, never dropped.
func (e *Engine) rollbackRootRotation(ctx context.Context, en wal.Entry) error {
	if err := e.cluster.VerifyActive(ctx); err != nil {
		return err
	}
	plain, err := e.cluster.Barrier().Decrypt(en.Data)
	if err != nil {
		return fmt.Errorf("open WAL entry: %w", err)
	}
	var r rotation
	if err := json.Unmarshal(plain, &r); err != nil {
		return fmt.Errorf("WAL entry is corrupt: %w", err)
	}
	start := func() error {
		_, err := e.cluster.Propose(ctx, state.TypeRollbackStart, "", command.SourceInternal, state.RollbackStart{WALID: en.ID})
		return err
	}
	done := func(cfg []byte) error {
		faults.Hit(faults.RollbackAfterDB)
		_, err := e.cluster.Propose(ctx, state.TypeRollbackDone, "", command.SourceInternal, state.RollbackDone{WALID: en.ID, Config: cfg})
		return err
	}
	_, cfg, entry, err := e.rt.LoadConn(r.Connection)
	if errors.Is(err, state.ErrNotFound) {
		if err := start(); err != nil {
			return err
		}
		return done(nil) // the connection is gone: nothing to repair
	}
	if err != nil {
		return err
	}
	if pw, _ := cfg["password"].(string); pw == r.New {
		if err := start(); err != nil {
			return err
		}
		return done(nil)
	}
	withNew := maps.Clone(cfg)
	withNew["password"] = r.New
	if e.canLogin(ctx, r.Connection, entry, withNew) == nil {
		sealed, err := e.rt.SealConfig(withNew)
		if err != nil {
			return err
		}
		if err := start(); err != nil {
			return err
		}
		if err := done(sealed); err != nil {
			return err
		}
		e.log.Info("interrupted root rotation rolled forward", "connection", r.Connection, "wal", en.ID)
		return nil
	}
	if until := e.rollbackNotBefore(en); e.cfg.Now().Before(until) {
		return rollback.NotYet(until, "the new root password does not log in; an old leader's call may still be in flight")
	}
	if err := start(); err != nil {
		return err
	}
	if err := e.canLogin(ctx, r.Connection, entry, cfg); err != nil {
		return fmt.Errorf("neither the stored nor the rotation's new root password logs in: %w", err)
	}
	if err := done(nil); err != nil {
		return err
	}
	e.log.Info("interrupted root rotation rolled back", "connection", r.Connection, "wal", en.ID)
	return nil
}

func (e *Engine) canLogin(ctx context.Context, key string, entry catalog.Entry, cfg map[string]any) error {
	pc, _, err := e.rt.OpenTemp(ctx, key, "check", entry, dbplugin.InitializeRequest{Config: cfg, VerifyConnection: true})
	if err != nil {
		return err
	}
	return pc.Close()
}

// DisableMount disables a mount as OpenBao does, without leaking a credential issued
// meanwhile: it first marks the mount disabling (no new lease, connection or role under it
// commits after that), revokes every lease under it until none is left, then deletes it with
// its connections (whose plugin instances stop) and roles.
func (e *Engine) DisableMount(ctx context.Context, path string, src Source) error {
	path = state.NormalizeMount(path)
	markID, deleteID := src.EventID, ""
	if src.EventID != "" {
		deleteID = src.EventID + "/delete"
		markID = src.EventID
	}
	if _, err := e.cluster.Propose(ctx, state.TypeMountDisable, markID, src.From, state.MountDelete{Path: path}); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return nil // nothing mounted there: disabling is done
		}
		return err
	}
	// Requests that began before the mark finish first: each records its lease (revoked
	// below) or, refused, takes its user back while the connection still exists.
	if err := e.rt.DrainIssues(ctx, path); err != nil {
		return err
	}
	for round := 0; ; round++ {
		var leases []string
		e.cluster.State().View(func(d *state.Data) {
			for id, l := range d.Leases {
				if l.Mount == path {
					leases = append(leases, id)
				}
			}
		})
		if len(leases) == 0 {
			break
		}
		if round == 10 {
			return fmt.Errorf("disable %s: %d leases still not revoked after 10 rounds", path, len(leases))
		}
		// The same batched, failover-proof revocation as sys/leases/revoke-prefix: every lease
		// id starts with its mount's path.
		if err := e.revokePrefix(ctx, path, false); err != nil {
			return fmt.Errorf("disable %s: %w", path, err)
		}
	}
	_, err := e.cluster.Propose(ctx, state.TypeMountDelete, deleteID, src.From, state.MountDelete{Path: path})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	return err
}
