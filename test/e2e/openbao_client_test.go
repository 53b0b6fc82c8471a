package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	openbao "github.com/openbao/openbao/api/v2"

	"github.com/baton-hq/baton/test/harness"
)

// baoClient is OpenBao's own Go client pointed at addr with token ("" for none).
func baoClient(t *testing.T, addr, token string) *openbao.Client {
	t.Helper()
	cfg := openbao.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = callTimeout
	c, err := openbao.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.ClearToken()
	if token != "" {
		c.SetToken(token)
	}
	return c
}

// wantStatus fails unless err is OpenBao's ResponseError with that status.
func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	var re *openbao.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status {
		t.Fatalf("%s: %v, want HTTP %d", what, err, status)
	}
}

// TestOpenBaoClientCompat drives the dev node (the built binary, as an operator starts it)
// with OpenBao's Go client (github.com/openbao/openbao/api/v2) through every endpoint of
// issue 14 items 1 to 3: lease lookup list, Sys().RevokePrefix and RevokeForce, Sys().TuneMount
// and MountConfig, Sys().Mount with config TTLs, Sys().Renew past the max, the password-policy
// paths and a connection whose password_policy names one.
// Callers without a token or with a wrong one are refused with 403 and change nothing.
func TestOpenBaoClientCompat(t *testing.T) {
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	p := startDev(t, []string{bins.Node.Path, "server", "-dev", "-dev-listen-address", "127.0.0.1:0", "-dev-nats-port", "0"})
	out := p.banner(t)
	bao := baoClient(t, out.addr, out.token)
	nobody := baoClient(t, out.addr, "")
	stranger := baoClient(t, out.addr, "s.not-the-root-token")

	issue := func(n int) []string {
		t.Helper()
		var ids []string
		for range n {
			s, err := bao.Logical().Read("database/creds/dev")
			if err != nil || s == nil || s.LeaseID == "" {
				t.Fatalf("creds: %v %+v", err, s)
			}
			ids = append(ids, s.LeaseID)
		}
		return ids
	}
	listed := func(prefix string) []string {
		t.Helper()
		s, err := bao.Logical().List("sys/leases/lookup/" + prefix)
		if err != nil {
			t.Fatalf("LIST sys/leases/lookup/%s: %v", prefix, err)
		}
		if s == nil {
			return nil // OpenBao's 404 for an empty list
		}
		var keys []string
		for _, k := range s.Data["keys"].([]any) {
			keys = append(keys, fmt.Sprint(k))
		}
		return keys
	}

	// Leases: list by prefix, revoke by prefix, force.
	ids := issue(3)
	if got := listed("database/"); !slices.Equal(got, []string{"creds/"}) {
		t.Fatalf("LIST sys/leases/lookup/database/ = %v, want [creds/]", got)
	}
	if got := listed("database/creds/dev/"); len(got) != 3 {
		t.Fatalf("LIST under the role = %v, want 3 lease ids", got)
	}
	wantStatus(t, "RevokePrefix without a token", nobody.Sys().RevokePrefix("database/creds/dev"), http.StatusForbidden)
	wantStatus(t, "RevokeForce with a wrong token", stranger.Sys().RevokeForce("database/creds/dev"), http.StatusForbidden)
	if _, err := stranger.Logical().List("sys/leases/lookup/database/"); err == nil {
		t.Fatal("LIST lookup with a wrong token answered")
	}
	if got := listed("database/creds/dev/"); len(got) != 3 {
		t.Fatalf("refused revocations changed the leases: %v", got)
	}
	if err := bao.Sys().RevokePrefix("database/creds/dev"); err != nil {
		t.Fatalf("RevokePrefix: %v", err)
	}
	if got := listed("database/creds/dev/"); got != nil {
		t.Fatalf("leases left after RevokePrefix: %v", got)
	}
	for _, id := range ids {
		if _, err := bao.Sys().Lookup(id); err == nil {
			t.Fatalf("lease %s still looks up", id)
		}
	}
	issue(2)
	if err := bao.Sys().RevokeForce("database/creds/dev"); err != nil {
		t.Fatalf("RevokeForce: %v", err)
	}
	if got := listed("database/"); got != nil {
		t.Fatalf("leases left after RevokeForce: %v", got)
	}
	if err := bao.Sys().RevokePrefix("nothing/here"); err != nil {
		t.Fatalf("RevokePrefix of a prefix with no lease: %v, want success as OpenBao", err)
	}

	// Tuning: OpenBao's shapes both ways; creds are capped with a warning.
	cfg, err := bao.Sys().MountConfig("database")
	if err != nil || cfg.DefaultLeaseTTL != 768*3600 || cfg.MaxLeaseTTL != 768*3600 {
		t.Fatalf("MountConfig of an untuned mount: %+v %v, want 768h each", cfg, err)
	}
	desc := "dev databases"
	wantStatus(t, "TuneMount without a token", nobody.Sys().TuneMount("database", openbao.MountConfigInput{MaxLeaseTTL: "1m"}), http.StatusForbidden)
	if err := bao.Sys().TuneMount("database", openbao.MountConfigInput{DefaultLeaseTTL: "10m", MaxLeaseTTL: "30m", Description: &desc}); err != nil {
		t.Fatalf("TuneMount: %v", err)
	}
	cfg, err = bao.Sys().MountConfig("database")
	if err != nil || cfg.DefaultLeaseTTL != 600 || cfg.MaxLeaseTTL != 1800 {
		t.Fatalf("MountConfig after tune: %+v %v", cfg, err)
	}
	mounts, err := bao.Sys().ListMounts()
	if err != nil || mounts["database/"] == nil || mounts["database/"].Description != desc || mounts["database/"].Config.MaxLeaseTTL != 1800 {
		t.Fatalf("ListMounts after tune: %v %+v", err, mounts["database/"])
	}
	s, err := bao.Logical().Read("database/creds/dev") // the dev role asks 1h
	if err != nil || s.LeaseDuration != 1800 || len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "capped") {
		t.Fatalf("creds under a 30m mount: %v, lease %d, warnings %q", err, s.LeaseDuration, s.Warnings)
	}
	wantStatus(t, "TuneMount with default above max", bao.Sys().TuneMount("database", openbao.MountConfigInput{DefaultLeaseTTL: "2h"}), http.StatusBadRequest)
	wantStatus(t, "TuneMount with an overflowing TTL", bao.Sys().TuneMount("database", openbao.MountConfigInput{MaxLeaseTTL: "99999999999999999"}), http.StatusBadRequest)
	if rs, err := bao.Sys().Renew(s.LeaseID, 7200); err != nil || rs.LeaseDuration > 1800 || len(rs.Warnings) != 1 {
		t.Fatalf("Renew past the mount's max: %v %+v", err, rs)
	}
	if err := bao.Sys().Mount("short", &openbao.MountInput{Type: "database", Config: openbao.MountConfigInput{MaxLeaseTTL: "1h"}}); err != nil {
		t.Fatalf("Mount with config: %v", err)
	}
	if cfg, err := bao.Sys().MountConfig("short"); err != nil || cfg.MaxLeaseTTL != 3600 || cfg.DefaultLeaseTTL != 3600 {
		t.Fatalf("MountConfig of a mount enabled with max_lease_ttl 1h: %+v %v, want 1h each", cfg, err)
	}
	if err := bao.Sys().TuneMount("database", openbao.MountConfigInput{DefaultLeaseTTL: "system", MaxLeaseTTL: "system"}); err != nil {
		t.Fatalf("TuneMount back to the system's: %v", err)
	}
	if cfg, err = bao.Sys().MountConfig("database"); err != nil || cfg.MaxLeaseTTL != 768*3600 {
		t.Fatalf("MountConfig after the reset: %+v %v", cfg, err)
	}

	// Password policies.
	const digits = "length = 16\nrule \"charset\" {\n  charset   = \"0123456789\"\n  min-chars = 16\n}\n"
	if _, err := nobody.Logical().Write("sys/policies/password/digits", map[string]any{"policy": digits}); err == nil {
		t.Fatal("password policy written without a token")
	}
	_, err = bao.Logical().Write("sys/policies/password/digits", map[string]any{"policy": "length = 16\nrule \"charset\" {\n  charset = \n}\n"})
	wantStatus(t, "bad HCL", err, http.StatusBadRequest)
	if !strings.Contains(err.Error(), "line 3, column") {
		t.Fatalf("bad HCL answered %v, want its line and column", err)
	}
	if _, err := bao.Logical().Write("sys/policies/password/digits", map[string]any{"policy": digits}); err != nil {
		t.Fatalf("write password policy: %v", err)
	}
	if s, err := bao.Logical().Read("sys/policies/password/digits"); err != nil || s.Data["policy"] != digits {
		t.Fatalf("read password policy: %v %+v", err, s)
	}
	if s, err := bao.Logical().List("sys/policies/password"); err != nil || fmt.Sprint(s.Data["keys"]) != "[digits]" {
		t.Fatalf("list password policies: %v %+v", err, s)
	}
	s, err = bao.Logical().Read("sys/policies/password/digits/generate")
	if pw, _ := s.Data["password"].(string); err != nil || len(pw) != 16 || strings.Trim(pw, "0123456789") != "" {
		t.Fatalf("generate: %v %+v", err, s)
	}
	if _, err := stranger.Logical().Read("sys/policies/password/digits/generate"); err == nil {
		t.Fatal("password generated for a wrong token")
	}
	// A connection naming the policy issues passwords from it; the old home-made form is refused.
	if _, err := bao.Logical().Write("database/config/digits", map[string]any{"plugin_name": "baton-test-plugin", "allowed_roles": "digits",
		"username": "root", "password": "root-pw", "state_file": filepath.Join(t.TempDir(), "db.json"), "password_policy": "length=20,classes=lower"}); err == nil ||
		!strings.Contains(err.Error(), "sys/policies/password") {
		t.Fatalf("home-made password_policy: %v, want a 400 pointing to sys/policies/password", err)
	}
	if _, err := bao.Logical().Write("database/config/digits", map[string]any{"plugin_name": "baton-test-plugin", "allowed_roles": "digits",
		"username": "root", "password": "root-pw", "state_file": filepath.Join(t.TempDir(), "db.json"), "password_policy": "digits"}); err != nil {
		t.Fatalf("connection with password_policy: %v", err)
	}
	if _, err := bao.Logical().Write("database/roles/digits", map[string]any{"db_name": "digits", "default_ttl": "1h"}); err != nil {
		t.Fatal(err)
	}
	s, err = bao.Logical().Read("database/creds/digits")
	if pw, _ := s.Data["password"].(string); err != nil || len(pw) != 16 || strings.Trim(pw, "0123456789") != "" {
		t.Fatalf("creds from a connection naming the digits policy: %v %+v", err, s)
	}
	if _, err := bao.Logical().Delete("sys/policies/password/digits"); err != nil {
		t.Fatalf("delete password policy: %v", err)
	}
	if s, err := bao.Logical().Read("sys/policies/password/digits"); err == nil && s != nil {
		t.Fatalf("policy still there after delete: %+v", s)
	}
	p.interrupt(t, -p.pgid)
}
