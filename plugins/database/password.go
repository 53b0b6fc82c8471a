package database

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/baton-hq/baton/plugins/database/passwordpolicy"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// defaultPasswordPolicy is OpenBao's default for the database engine, parsed once.
var defaultPasswordPolicy = func() *passwordpolicy.Policy {
	p, err := passwordpolicy.Parse(passwordpolicy.Default)
	if err != nil {
		panic(err) // the built-in text is a constant: every test would fail at once
	}
	return p
}()

// checkPasswordPolicyName refuses a name that cannot be a path segment.
func checkPasswordPolicyName(name string) error {
	if name == "" || strings.Contains(name, "/") {
		return invalid("password policy name %q: give a name without '/'", name)
	}
	return checkRunes("password policy name", name)
}

// PutPasswordPolicy parses an OpenBao password policy and writes it (PUT
// sys/policies/password/:name). A bad text is ErrInvalid with the line and column.
func (e *Engine) PutPasswordPolicy(ctx context.Context, name, text string) error {
	if err := checkPasswordPolicyName(name); err != nil {
		return err
	}
	if _, err := passwordpolicy.Parse(text); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	_, err := e.cluster.Propose(ctx, state.TypePasswordPolicyPut, "", command.SourceAPI, state.PasswordPolicyPut{Name: name, Policy: text})
	return err
}

// ReadPasswordPolicy returns a password policy's text.
func (e *Engine) ReadPasswordPolicy(name string) (string, error) {
	var p state.PasswordPolicy
	var ok bool
	e.cluster.State().View(func(d *state.Data) { p, ok = d.PasswordPolicies[name] })
	if !ok {
		return "", fmt.Errorf("%w: no password policy %q", ErrNotFound, name)
	}
	return p.Text, nil
}

// ListPasswordPolicies names every password policy, sorted.
func (e *Engine) ListPasswordPolicies() []string {
	var out []string
	e.cluster.State().View(func(d *state.Data) { out = slices.Sorted(maps.Keys(d.PasswordPolicies)) })
	return out
}

// DeletePasswordPolicy removes a password policy (missing is not an error). A connection that
// still names it cannot issue passwords until it is written again or the policy is.
func (e *Engine) DeletePasswordPolicy(ctx context.Context, name string) error {
	if err := checkPasswordPolicyName(name); err != nil {
		return err
	}
	_, err := e.cluster.Propose(ctx, state.TypePasswordPolicyDelete, "", command.SourceAPI, state.PasswordPolicyDelete{Name: name})
	return err
}

// GeneratePassword generates a password from a stored policy
// (sys/policies/password/:name/generate).
func (e *Engine) GeneratePassword(name string) (string, error) {
	p, err := e.passwordPolicy(name)
	if err != nil {
		return "", err
	}
	return p.Generate()
}

// passwordPolicy reads and parses a stored policy; "" is OpenBao's default for the engine.
func (e *Engine) passwordPolicy(name string) (*passwordpolicy.Policy, error) {
	if name == "" {
		return defaultPasswordPolicy, nil
	}
	text, err := e.ReadPasswordPolicy(name)
	if err != nil {
		return nil, fmt.Errorf("%w: password policy %q does not exist: write it with sys/policies/password/%s", ErrInvalid, name, name)
	}
	p, err := passwordpolicy.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%w: stored password policy %q: %w", ErrInvalid, name, err)
	}
	return p, nil
}

// connectionPassword generates a password for a connection from the policy its
// password_policy names, as OpenBao's database engine does.
func (e *Engine) connectionPassword(conn state.Connection) (string, error) {
	p, err := e.passwordPolicy(conn.PasswordPolicy)
	if err != nil {
		return "", err
	}
	return p.Generate()
}

// checkConnectionPolicy validates a connection's password_policy: the name of a stored policy.
// Baton's former "length=N,classes=…" strings are refused with what to do instead.
func (e *Engine) checkConnectionPolicy(name string) error {
	if name == "" {
		return nil
	}
	if strings.ContainsAny(name, "=,") {
		return invalid("password_policy %q: password_policy now names a password policy, as in OpenBao; the \"length=N,classes=…\" form is gone: write the policy with sys/policies/password/<name> (HCL: length = 20 and rule \"charset\" { charset = \"…\" min-chars = 1 }) and give its name", name)
	}
	_, err := e.passwordPolicy(name)
	return err
}
