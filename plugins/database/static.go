package database

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/wal"
)

// staticRotation is the sealed payload of a static role's rotation WAL entry.
type staticRotation struct {
	Mount    string `json:"mount"`
	Name     string `json:"name"`
	Username string `json:"username"`
	New      string `json:"new"`
}

// WriteStaticRole creates or updates a static role; a new role's password is rotated at once,
// as OpenBao does, so Baton knows it.
func (e *Engine) WriteStaticRole(ctx context.Context, r state.StaticRole) error {
	if err := CheckName("static role", r.Name); err != nil {
		return err
	}
	if err := checkRunes("static role username", r.Username); err != nil {
		return err
	}
	if err := e.cluster.VerifyActive(ctx); err != nil {
		return err
	}
	r.Mount = state.NormalizeMount(r.Mount)
	old, err := e.ReadStaticRole(r.Mount, r.Name)
	exists := err == nil
	if exists {
		r.Password, r.LastRotation = old.Password, old.LastRotation
		if old.Username != r.Username {
			return invalid("username of static role %q cannot change (it is %q): delete and create the role", r.Name, old.Username)
		}
	}
	if r.RotationPeriod > 0 && r.RotationPeriod < 5*time.Second {
		return invalid("rotation_period %s is shorter than 5s", r.RotationPeriod)
	}
	if _, err := e.cluster.Propose(ctx, state.TypeStaticRolePut, "", command.SourceAPI, state.StaticRolePut{Role: r}); err != nil {
		return err
	}
	if !exists {
		return e.RotateStaticRole(ctx, r.Mount, r.Name)
	}
	return nil
}

// ReadStaticRole returns a static role.
func (e *Engine) ReadStaticRole(mount, name string) (state.StaticRole, error) {
	var r state.StaticRole
	var ok bool
	e.cluster.State().View(func(d *state.Data) { r, ok = d.StaticRoles[state.Key(mount, name)] })
	if !ok {
		return r, fmt.Errorf("%w: static role %q", state.ErrNotFound, name)
	}
	return r, nil
}

// ListStaticRoles lists a mount's static roles.
func (e *Engine) ListStaticRoles(mount string) []string {
	return e.listKeys(mount, func(d *state.Data) []string { return slices.Collect(maps.Keys(d.StaticRoles)) })
}

// DeleteStaticRole forgets a static role; the database user stays, as in OpenBao.
func (e *Engine) DeleteStaticRole(ctx context.Context, mount, name string) error {
	_, err := e.cluster.Propose(ctx, state.TypeStaticRoleDelete, "", command.SourceAPI, state.RoleRef{Mount: mount, Name: name})
	return err
}

// StaticCreds returns a static role's current credential.
func (e *Engine) StaticCreds(mount, name string) (map[string]any, error) {
	r, err := e.ReadStaticRole(mount, name)
	if err != nil {
		return nil, err
	}
	if len(r.Password) == 0 {
		return nil, fmt.Errorf("%w: static role %q has not been rotated yet", state.ErrConflict, name)
	}
	pw, err := e.cluster.Barrier().Decrypt(r.Password)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"username": r.Username, "password": string(pw), "last_vault_rotation": r.LastRotation,
		"rotation_period": int64(r.RotationPeriod / time.Second)}
	if r.RotationPeriod > 0 {
		out["ttl"] = int64(time.Until(r.LastRotation.Add(r.RotationPeriod)) / time.Second)
	}
	return out, nil
}

// RotateStaticRole sets a new password on a static role's user: WAL first, then the database,
// then the sealed password and the WAL delete in one command. A crash in between is rolled
// forward by the rollback manager.
func (e *Engine) RotateStaticRole(ctx context.Context, mount, name string) error {
	r, err := e.ReadStaticRole(mount, name)
	if err != nil {
		return err
	}
	var conn state.Connection
	e.cluster.State().View(func(d *state.Data) { conn = d.Connections[state.Key(r.Mount, r.DBName)] })
	pw, err := e.connectionPassword(conn)
	if err != nil {
		return err
	}
	data, _ := json.Marshal(staticRotation{Mount: r.Mount, Name: r.Name, Username: r.Username, New: pw})
	sealed, err := e.cluster.Barrier().Encrypt(data)
	if err != nil {
		return err
	}
	walID := "static-" + rand.Text()
	if _, err := e.cluster.Propose(ctx, state.TypeStaticRotateBegin, "", command.SourceInternal, state.StaticRotateBegin{
		Mount: r.Mount, Name: r.Name, Entry: wal.Entry{ID: walID, Data: sealed},
	}); err != nil {
		return err
	}
	return e.finishStatic(ctx, walID, staticRotation{Mount: r.Mount, Name: r.Name, Username: r.Username, New: pw}, r.RotationStatements)
}

func (e *Engine) finishStatic(ctx context.Context, walID string, s staticRotation, stmts []string) error {
	r, err := e.ReadStaticRole(s.Mount, s.Name)
	if errors.Is(err, state.ErrNotFound) {
		_, err := e.cluster.Propose(ctx, state.TypeStaticRotateCommit, "", command.SourceInternal, state.StaticRotateCommit{Mount: s.Mount, Name: s.Name, WALID: walID})
		return err
	}
	if err != nil {
		return err
	}
	err = e.rt.Call(ctx, state.Key(r.Mount, r.DBName), func(db dbplugin.Database) error {
		_, err := db.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: s.Username,
			Password: &dbplugin.ChangePassword{NewPassword: s.New, Statements: dbplugin.Statements{Commands: stmts}}})
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate static role %q: %w", s.Name, err)
	}
	sealed, err := e.cluster.Barrier().Encrypt([]byte(s.New))
	if err != nil {
		return err
	}
	_, err = e.cluster.Propose(ctx, state.TypeStaticRotateCommit, "", command.SourceInternal, state.StaticRotateCommit{
		Mount: s.Mount, Name: s.Name, WALID: walID, Password: sealed})
	return err
}

// rollbackStaticRotation rolls an interrupted static rotation forward with the entry's
// password: setting it again is harmless if the database already has it.
func (e *Engine) rollbackStaticRotation(ctx context.Context, en wal.Entry) error {
	plain, err := e.cluster.Barrier().Decrypt(en.Data)
	if err != nil {
		return fmt.Errorf("open WAL entry: %w", err)
	}
	var s staticRotation
	if err := json.Unmarshal(plain, &s); err != nil {
		return fmt.Errorf("WAL entry is corrupt: %w", err)
	}
	var stmts []string
	if r, err := e.ReadStaticRole(s.Mount, s.Name); err == nil {
		stmts = r.RotationStatements
	}
	return e.finishStatic(ctx, en.ID, s, stmts)
}

// rotateDueStatic rotates static roles whose period has passed; active node only.
func (e *Engine) rotateDueStatic(ctx context.Context, now time.Time) {
	var due []state.StaticRole
	var pending map[string]bool
	e.cluster.State().View(func(d *state.Data) {
		pending = map[string]bool{}
		for _, w := range d.WAL.Entries {
			pending[w.Target] = true
		}
		for k, r := range d.StaticRoles {
			if r.RotationPeriod > 0 && !pending[k] && !r.LastRotation.Add(r.RotationPeriod).After(now) {
				due = append(due, r)
			}
		}
	})
	for _, r := range due {
		if err := e.RotateStaticRole(ctx, r.Mount, r.Name); err != nil && ctx.Err() == nil {
			e.log.Warn("periodic rotation of a static role", "role", r.Name, "error", err)
		}
	}
}
