package database

import (
	"context"
	"fmt"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// DefaultSystemTTL is OpenBao's default for the system's default_lease_ttl and max_lease_ttl:
// 768h (32 days).
const DefaultSystemTTL = 768 * time.Hour

// capWarning is OpenBao's warning when a TTL asked for is above the effective maximum.
func capWarning(ttl, maxTTL time.Duration) string {
	return fmt.Sprintf("TTL of %q exceeded the effective max_ttl of %q; TTL value is capped accordingly", ttl.String(), maxTTL.String())
}

// MountTTLs are a mount's lease TTLs: as tuned (zero: the system's) and in effect.
type MountTTLs struct {
	Default, Max                   time.Duration // as tuned; zero means the system's
	EffectiveDefault, EffectiveMax time.Duration
}

// mountTTLs settles a mount's lease TTLs as OpenBao's system view does: a tuned value wins
// (a mount's max may be above the system's), an untuned one is the system's, and the default
// never exceeds the max.
func (e *Engine) mountTTLs(m state.Mount) MountTTLs {
	t := MountTTLs{Default: m.DefaultLeaseTTL, Max: m.MaxLeaseTTL, EffectiveDefault: m.DefaultLeaseTTL, EffectiveMax: m.MaxLeaseTTL}
	if t.EffectiveMax <= 0 {
		t.EffectiveMax = e.cfg.MaxLeaseTTL
	}
	if t.EffectiveDefault <= 0 {
		t.EffectiveDefault = e.cfg.DefaultLeaseTTL
	}
	t.EffectiveDefault = min(t.EffectiveDefault, t.EffectiveMax)
	return t
}

// leaseTTLs settles a credential's TTL and max TTL: the max is the role's max_ttl bounded by
// the mount's effective max; the TTL is the role's default_ttl, or the mount's default, bounded
// by that max. A role's default_ttl above the max is capped with OpenBao's warning.
func (e *Engine) leaseTTLs(role state.Role, m state.Mount) (ttl, maxTTL time.Duration, warnings []string) {
	mt := e.mountTTLs(m)
	maxTTL = mt.EffectiveMax
	if role.MaxTTL > 0 && role.MaxTTL < maxTTL {
		maxTTL = role.MaxTTL
	}
	ttl = role.DefaultTTL
	if ttl <= 0 {
		ttl = mt.EffectiveDefault
	}
	if ttl > maxTTL {
		if role.DefaultTTL > 0 {
			warnings = append(warnings, capWarning(ttl, maxTTL))
		}
		ttl = maxTTL
	}
	return ttl, maxTTL, warnings
}

// roleWarnings are the warnings OpenBao gives when a role's TTLs exceed what the mount allows:
// the role is stored as written, and its credentials are capped when issued.
func (e *Engine) roleWarnings(r state.Role) []string {
	var m state.Mount
	e.cluster.State().View(func(d *state.Data) { m = d.Mounts[state.NormalizeMount(r.Mount)] })
	mt := e.mountTTLs(m)
	var out []string
	if r.DefaultTTL > mt.EffectiveMax {
		out = append(out, fmt.Sprintf("default_ttl %s is greater than the system or the mount's max lease TTL %s; issued credentials' TTL will be capped to it", r.DefaultTTL, mt.EffectiveMax))
	}
	if r.MaxTTL > mt.EffectiveMax {
		out = append(out, fmt.Sprintf("max_ttl %s is greater than the system or the mount's max lease TTL %s; issued credentials' max TTL will be truncated to it", r.MaxTTL, mt.EffectiveMax))
	}
	return out
}

// ReadMountTTLs reads a mount's lease TTLs (GET sys/mounts/:path/tune).
func (e *Engine) ReadMountTTLs(path string) (Mount, MountTTLs, error) {
	m, ok := e.ReadMount(path)
	if !ok {
		return m, MountTTLs{}, fmt.Errorf("%w: no mount at %s", state.ErrNotFound, state.NormalizeMount(path))
	}
	return m, e.mountTTLs(m), nil
}

// Tune is a sys/mounts/:path/tune write; a nil field is left as it is, a zero TTL means the
// system's.
type Tune struct {
	DefaultLeaseTTL *time.Duration
	MaxLeaseTTL     *time.Duration
	Description     *string
}

// TuneMount changes a mount's lease TTLs and description, as OpenBao's tune does: the
// default may not be above the max in effect after the change (the mount's, or the system's
// when the mount has none).
func (e *Engine) TuneMount(ctx context.Context, path string, t Tune) error {
	m, _, err := e.ReadMountTTLs(path)
	if err != nil {
		return err
	}
	for _, d := range []*time.Duration{t.DefaultLeaseTTL, t.MaxLeaseTTL} {
		if d != nil && *d < 0 {
			return invalid("a lease TTL cannot be negative")
		}
	}
	if t.Description != nil {
		if err := checkRunes("description", *t.Description); err != nil {
			return err
		}
	}
	after := m
	if t.DefaultLeaseTTL != nil {
		after.DefaultLeaseTTL = *t.DefaultLeaseTTL
	}
	if t.MaxLeaseTTL != nil {
		after.MaxLeaseTTL = *t.MaxLeaseTTL
	}
	mt := e.mountTTLs(after)
	if after.DefaultLeaseTTL > mt.EffectiveMax {
		return invalid("default_lease_ttl %s would be greater than the max lease TTL %s: lower it or raise max_lease_ttl", after.DefaultLeaseTTL, mt.EffectiveMax)
	}
	_, err = e.cluster.Propose(ctx, state.TypeMountTune, "", command.SourceAPI, state.MountTune{
		Path: m.Path, DefaultLeaseTTL: t.DefaultLeaseTTL, MaxLeaseTTL: t.MaxLeaseTTL, Description: t.Description})
	return err
}
