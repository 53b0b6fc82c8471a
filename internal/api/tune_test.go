package api

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/plugins/database"
)

// TestMountTune: GET answers OpenBao's shape with the TTLs in effect in seconds; POST takes
// durations as strings or seconds, "" as unchanged, "system" as back to the system's, the
// fields OpenBao's client always sends without a warning, and refuses an overflowing or
// negative TTL with 400 before anything is proposed; without a token nothing is tuned.
func TestMountTune(t *testing.T) {
	tests := []struct {
		name  string
		meth  string
		body  any
		hdr   []string
		want  int
		msg   string
		calls []string
		warn  string
	}{
		{name: "read", meth: "GET", want: 200, calls: []string{"ReadMountTTLs database"}},
		{name: "tune with strings", meth: "POST", body: map[string]any{"default_lease_ttl": "1h", "max_lease_ttl": "24h", "description": "apps"}, want: 204,
			calls: []string{`TuneMount database 1h0m0s 24h0m0s "apps"`}},
		{name: "tune with seconds", meth: "POST", body: `{"max_lease_ttl": 7200}`, want: 204, calls: []string{"TuneMount database - 2h0m0s -"}},
		{name: "OpenBao client's shape", meth: "POST", body: `{"default_lease_ttl":"","max_lease_ttl":"system","options":null,"force_no_cache":false}`, want: 204,
			calls: []string{"TuneMount database - 0s -"}},
		{name: "unknown field warned", meth: "POST", body: `{"max_lease_ttl":"1h","colour":"red","force_no_cache":true}`, want: 200,
			calls: []string{"TuneMount database - 1h0m0s -"}, warn: "[colour force_no_cache]"},
		{name: "overflowing", meth: "POST", body: `{"default_lease_ttl": 99999999999999999}`, want: 400, msg: "default_lease_ttl must be"},
		{name: "negative", meth: "POST", body: `{"max_lease_ttl": "-5s"}`, want: 400, msg: "max_lease_ttl must be"},
		{name: "not a duration", meth: "POST", body: `{"max_lease_ttl": "a month"}`, want: 400, msg: "max_lease_ttl must be"},
		{name: "no token", meth: "POST", body: `{"max_lease_ttl": "1h"}`, hdr: []string{TokenHeader, ""}, want: 403, msg: "permission denied"},
		{name: "wrong token", meth: "POST", body: `{"max_lease_ttl": "1h"}`, hdr: []string{TokenHeader, "nope"}, want: 403, msg: "permission denied"},
		{name: "delete", meth: "DELETE", want: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newFakeSecrets()
			sec.mounts = map[string]database.Mount{"database/": {Path: "database/", Type: "database", Description: "dbs"}}
			sec.ttls = database.MountTTLs{EffectiveDefault: time.Hour, EffectiveMax: 768 * time.Hour}
			r := do(t, newTestServer(newFakeNode(), sec), tt.meth, "/v1/sys/mounts/database/tune", tt.body, tt.hdr...)
			if r.status != tt.want || !strings.Contains(r.errs(), tt.msg) {
				t.Fatalf("%d %q, want %d %q (%s)", r.status, r.errs(), tt.want, tt.msg, r.raw)
			}
			if got := sec.got(); !slices.Equal(got, tt.calls) {
				t.Fatalf("calls %q, want %q", got, tt.calls)
			}
			if tt.warn != "" && !strings.Contains(r.raw, tt.warn) {
				t.Fatalf("reply %s lacks warning %q", r.raw, tt.warn)
			}
			if tt.name == "read" {
				d := r.dataOf(t)
				if d["default_lease_ttl"] != float64(3600) || d["max_lease_ttl"] != float64(768*3600) || d["description"] != "dbs" {
					t.Fatalf("tune read: %s", r.raw)
				}
			}
		})
	}
}

// TestTTLWarnings: the warnings of creds, renew and a role write reach the reply's "warnings".
func TestTTLWarnings(t *testing.T) {
	sec := newFakeSecrets()
	sec.secret = database.Secret{LeaseID: "database/creds/ro/x", LeaseDuration: time.Hour, Warnings: []string{"TTL capped"}}
	sec.roleWarnings = []string{"max_ttl too long"}
	h := newTestServer(newFakeNode(), sec)
	for _, c := range []struct{ meth, path, body, want string }{
		{"GET", "/v1/database/creds/ro", "", "TTL capped"},
		{"PUT", "/v1/sys/leases/renew", `{"lease_id":"database/creds/ro/x","increment":"100h"}`, "TTL capped"},
		{"POST", "/v1/database/roles/ro", `{"db_name":"db1","max_ttl":"1000h"}`, "max_ttl too long"},
	} {
		r := do(t, h, c.meth, c.path, c.body)
		ws, _ := r.body["warnings"].([]any)
		if r.status != 200 || len(ws) != 1 || ws[0] != c.want {
			t.Fatalf("%s %s: %d %s, want warnings [%q]", c.meth, c.path, r.status, r.raw, c.want)
		}
	}
}

// TestMountEnableConfigTTLs: sys/mounts/:path takes OpenBao's config.default_lease_ttl and
// max_lease_ttl (what `bao secrets enable -max-lease-ttl` sends); a bad one is a 400 naming
// the field and nothing is mounted.
func TestMountEnableConfigTTLs(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		want  int
		msg   string
		calls []string
	}{
		{"ttls", `{"type":"database","config":{"default_lease_ttl":"10m","max_lease_ttl":"3600"}}`, 204, "",
			[]string{"EnableMount new/ database    10m0s 1h0m0s"}},
		{"OpenBao client's empty config", `{"type":"database","config":{"default_lease_ttl":"","max_lease_ttl":"","force_no_cache":false}}`, 204, "",
			[]string{"EnableMount new/ database   "}},
		{"negative", `{"type":"database","config":{"max_lease_ttl":"-1h"}}`, 400, "config.max_lease_ttl must be", nil},
		{"config not an object", `{"type":"database","config":"big"}`, 400, "config must be an object", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newFakeSecrets()
			r := do(t, newTestServer(newFakeNode(), sec), "POST", "/v1/sys/mounts/new", tt.body)
			if r.status != tt.want || !strings.Contains(r.errs(), tt.msg) {
				t.Fatalf("%d %q, want %d %q", r.status, r.errs(), tt.want, tt.msg)
			}
			if got := sec.got(); !slices.Equal(got, tt.calls) {
				t.Fatalf("calls %q, want %q", got, tt.calls)
			}
		})
	}
}
