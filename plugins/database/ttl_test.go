package database

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore/state"
)

func durp(d time.Duration) *time.Duration { return &d }

// TestLeaseTTLsAsOpenBao: a credential's TTL and max TTL from the role, the mount's tune and
// the system's 768h, capped with OpenBao's warning when the role asked for more.
func TestLeaseTTLsAsOpenBao(t *testing.T) {
	f := newFixture(t, false)
	const sys = DefaultSystemTTL
	tests := []struct {
		name     string
		role     state.Role
		mount    state.Mount
		ttl, max time.Duration
		warn     string
	}{
		{name: "role's own", role: state.Role{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour}, ttl: time.Hour, max: 2 * time.Hour},
		{name: "nothing set: the system's 768h", ttl: sys, max: sys},
		{name: "mount tuned", mount: state.Mount{DefaultLeaseTTL: 5 * time.Minute, MaxLeaseTTL: 10 * time.Hour}, ttl: 5 * time.Minute, max: 10 * time.Hour},
		{name: "mount max below the system default", mount: state.Mount{MaxLeaseTTL: 10 * time.Hour}, ttl: 10 * time.Hour, max: 10 * time.Hour},
		{name: "role default above the mount max", role: state.Role{DefaultTTL: 20 * time.Hour}, mount: state.Mount{MaxLeaseTTL: 10 * time.Hour},
			ttl: 10 * time.Hour, max: 10 * time.Hour, warn: `TTL of "20h0m0s" exceeded the effective max_ttl of "10h0m0s"; TTL value is capped accordingly`},
		{name: "role max above the mount max", role: state.Role{MaxTTL: 30 * time.Hour}, mount: state.Mount{MaxLeaseTTL: 10 * time.Hour}, ttl: 10 * time.Hour, max: 10 * time.Hour},
		{name: "role default above the system max", role: state.Role{DefaultTTL: 1000 * time.Hour},
			ttl: sys, max: sys, warn: `TTL of "1000h0m0s" exceeded the effective max_ttl of "768h0m0s"`},
		{name: "mount max above the system's, as OpenBao allows", role: state.Role{DefaultTTL: 900 * time.Hour}, mount: state.Mount{MaxLeaseTTL: 1000 * time.Hour},
			ttl: 900 * time.Hour, max: 1000 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ttl, max, warnings := f.e.leaseTTLs(tt.role, tt.mount)
			if ttl != tt.ttl || max != tt.max {
				t.Fatalf("ttl %s max %s, want %s %s", ttl, max, tt.ttl, tt.max)
			}
			got := strings.Join(warnings, "; ")
			if (tt.warn == "") != (got == "") || !strings.Contains(got, tt.warn) {
				t.Fatalf("warnings %q, want %q", got, tt.warn)
			}
		})
	}
}

// TestTuneMount: tune changes the mount's TTLs and description through Raft; the default may
// not pass the max in effect, a negative TTL is refused, zero goes back to the system's, and
// a refused tune changes nothing. Creds and renew follow the tuned max with a warning.
func TestTuneMount(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	if _, ttls, err := f.e.ReadMountTTLs("database"); err != nil || ttls.EffectiveDefault != DefaultSystemTTL || ttls.EffectiveMax != DefaultSystemTTL {
		t.Fatalf("untuned mount: %+v %v, want the system's 768h", ttls, err)
	}
	desc := "app databases"
	if err := f.e.TuneMount(ctx, "database/", Tune{DefaultLeaseTTL: durp(30 * time.Minute), MaxLeaseTTL: durp(45 * time.Minute), Description: &desc}); err != nil {
		t.Fatal(err)
	}
	m, ttls, err := f.e.ReadMountTTLs("database")
	if err != nil || m.Description != desc || ttls.EffectiveDefault != 30*time.Minute || ttls.EffectiveMax != 45*time.Minute {
		t.Fatalf("after tune: %+v %+v %v", m, ttls, err)
	}
	for _, bad := range []struct {
		name string
		tune Tune
		msg  string
	}{
		{"default above the tuned max", Tune{DefaultLeaseTTL: durp(time.Hour)}, "greater than the max lease TTL 45m0s"},
		{"max below the default", Tune{MaxLeaseTTL: durp(10 * time.Minute)}, "greater than the max lease TTL 10m0s"},
		{"negative", Tune{MaxLeaseTTL: durp(-time.Second)}, "cannot be negative"},
		{"default above the system max once the mount's max is gone", Tune{DefaultLeaseTTL: durp(800 * time.Hour), MaxLeaseTTL: durp(0)}, "greater than the max lease TTL 768h0m0s"},
	} {
		err := f.e.TuneMount(ctx, "database", bad.tune)
		if !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), bad.msg) {
			t.Fatalf("%s: %v, want ErrInvalid with %q", bad.name, err, bad.msg)
		}
		if _, after, _ := f.e.ReadMountTTLs("database"); after != ttls {
			t.Fatalf("%s: refused tune changed the mount: %+v", bad.name, after)
		}
	}
	if err := f.e.TuneMount(ctx, "nowhere", Tune{}); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("tune of a missing mount: %v, want ErrNotFound", err)
	}

	// The fixture's role asks 1h (max 2h): the mount's 45m max caps it, with the warning.
	sec, err := f.e.Creds(ctx, "database", "ro", "token")
	if err != nil {
		t.Fatal(err)
	}
	if sec.LeaseDuration != 45*time.Minute || len(sec.Warnings) != 1 || !strings.Contains(sec.Warnings[0], `exceeded the effective max_ttl of "45m0s"`) {
		t.Fatalf("creds under the tuned mount: %s %q", sec.LeaseDuration, sec.Warnings)
	}
	ren, err := f.e.Renew(ctx, sec.LeaseID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ren.LeaseDuration != 45*time.Minute || len(ren.Warnings) != 1 || !strings.Contains(ren.Warnings[0], `TTL of "1h0m0s" exceeded`) {
		t.Fatalf("renew past the max: %s %q", ren.LeaseDuration, ren.Warnings)
	}
	warnings, err := f.e.WriteRole(ctx, state.Role{Mount: "database", Name: "ro", DBName: "db1", CreationStatements: []string{"CREATE ROLE"}, MaxTTL: 2 * time.Hour})
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "max_ttl 2h0m0s is greater than the system or the mount's max lease TTL 45m0s") {
		t.Fatalf("role above the mount's max: %q %v", warnings, err)
	}

	// Zero goes back to the system's.
	if err := f.e.TuneMount(ctx, "database", Tune{DefaultLeaseTTL: durp(0), MaxLeaseTTL: durp(0)}); err != nil {
		t.Fatal(err)
	}
	if _, ttls, _ := f.e.ReadMountTTLs("database"); ttls.Default != 0 || ttls.EffectiveMax != DefaultSystemTTL {
		t.Fatalf("after the reset: %+v", ttls)
	}
}

// TestEnableMountTTLs: a mount enabled with TTLs keeps them; a default above the max in
// effect or a negative TTL is refused and nothing is mounted.
func TestEnableMountTTLs(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	if err := f.e.EnableMount(ctx, Mount{Path: "short", Type: "database", DefaultLeaseTTL: time.Minute, MaxLeaseTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, ttls, err := f.e.ReadMountTTLs("short"); err != nil || ttls.EffectiveDefault != time.Minute || ttls.EffectiveMax != time.Hour {
		t.Fatalf("mounted TTLs: %+v %v", ttls, err)
	}
	for _, m := range []Mount{
		{Path: "bad1", Type: "database", DefaultLeaseTTL: 2 * time.Hour, MaxLeaseTTL: time.Hour},
		{Path: "bad2", Type: "database", DefaultLeaseTTL: 1000 * time.Hour},
		{Path: "bad3", Type: "database", MaxLeaseTTL: -time.Second},
	} {
		if err := f.e.EnableMount(ctx, m); !errors.Is(err, state.ErrInvalid) {
			t.Fatalf("EnableMount %+v: %v, want ErrInvalid", m, err)
		}
		if _, ok := f.e.ReadMount(m.Path); ok {
			t.Fatalf("%s mounted after a refusal", m.Path)
		}
	}
}
