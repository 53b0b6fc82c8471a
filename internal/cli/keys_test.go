package cli

import (
	"strings"
	"testing"
)

// TestKeyCommands: operator unseal -reset, rekey (init, update, status, cancel), rotate and
// key-status send OpenBao's requests and print the answers; misuse is a usage error and
// sends nothing.
func TestKeyCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		stdin  string
		routes map[string]reply
		want   []wantReq
		code   int
		out    []string
		errHas string
	}{
		{name: "unseal progress", args: []string{"operator", "unseal", "SHARE1"},
			routes: map[string]reply{"PUT /v1/sys/unseal": {200, `{"type":"shamir","initialized":true,"sealed":true,"t":3,"n":5,"progress":1,"nonce":"u-1"}`}},
			want:   []wantReq{{"PUT", "/v1/sys/unseal", "", `{"key":"SHARE1"}`}},
			out:    []string{"Unseal Progress", "1/3", "u-1"}},
		{name: "unseal reset", args: []string{"operator", "unseal", "-reset"},
			routes: map[string]reply{"PUT /v1/sys/unseal": {200, `{"type":"shamir","initialized":true,"sealed":true,"t":3,"n":5,"progress":0,"nonce":""}`}},
			want:   []wantReq{{"PUT", "/v1/sys/unseal", "", `{"reset":true}`}}},
		{name: "unseal reset with a key", args: []string{"operator", "unseal", "-reset", "K"}, code: ExitUsage, errHas: "-reset takes no KEY"},
		{name: "rekey init", args: []string{"operator", "rekey", "-init", "-key-shares=3", "-key-threshold=2"},
			routes: map[string]reply{"PUT /v1/sys/rekey/init": {200, `{"nonce":"r-1","started":true,"t":2,"n":3,"progress":0,"required":3}`}},
			want:   []wantReq{{"PUT", "/v1/sys/rekey/init", "", `{"secret_shares":3,"secret_threshold":2,"require_verification":false}`}},
			out:    []string{"r-1", "0/3"}},
		{name: "rekey init bad threshold", args: []string{"operator", "rekey", "-init", "-key-shares=3", "-key-threshold=4"}, code: ExitUsage, errHas: "-key-threshold"},
		{name: "rekey update completes", args: []string{"operator", "rekey", "-nonce=r-1"}, stdin: "OLDSHARE\n",
			routes: map[string]reply{"PUT /v1/sys/rekey/update": {200, `{"nonce":"r-1","complete":true,"keys":["aa","bb"],"keys_base64":["qg==","uw=="]}`}},
			want:   []wantReq{{"PUT", "/v1/sys/rekey/update", "", `{"key":"OLDSHARE","nonce":"r-1"}`}},
			out:    []string{"Key 1: qg==", "Key 2: uw==", "old keys no longer unseal"}},
		{name: "rekey wrong nonce", args: []string{"operator", "rekey", "-nonce=bad", "K"},
			routes: map[string]reply{"PUT /v1/sys/rekey/update": {400, `{"errors":["incorrect nonce supplied"]}`}},
			want:   []wantReq{{"PUT", "/v1/sys/rekey/update", "", `{"key":"K","nonce":"bad"}`}},
			code:   ExitError, errHas: "incorrect nonce"},
		{name: "rekey init with verification", args: []string{"operator", "rekey", "-init", "-verify", "-key-shares=3", "-key-threshold=2"},
			routes: map[string]reply{"PUT /v1/sys/rekey/init": {200, `{"nonce":"r-1","started":true,"t":2,"n":3,"progress":0,"required":3,"verification_required":true}`}},
			want:   []wantReq{{"PUT", "/v1/sys/rekey/init", "", `{"secret_shares":3,"secret_threshold":2,"require_verification":true}`}}},
		{name: "rekey update answers pending keys", args: []string{"operator", "rekey", "-nonce=r-1", "K"},
			routes: map[string]reply{"PUT /v1/sys/rekey/update": {200, `{"nonce":"r-1","complete":true,"keys_base64":["qg==","uw=="],"verification_required":true,"verification_nonce":"v-1"}`}},
			want:   []wantReq{{"PUT", "/v1/sys/rekey/update", "", `{"key":"K","nonce":"r-1"}`}},
			out:    []string{"Key 1: qg==", "Verification nonce: v-1", "not in use yet"}},
		{name: "rekey verify", args: []string{"operator", "rekey", "-verify", "-nonce=v-1", "NEWKEY"},
			routes: map[string]reply{"PUT /v1/sys/rekey/verify": {200, `{"nonce":"v-1","complete":true}`}},
			want:   []wantReq{{"PUT", "/v1/sys/rekey/verify", "", `{"key":"NEWKEY","nonce":"v-1"}`}},
			out:    []string{"Rekey verified"}},
		{name: "rekey status", args: []string{"operator", "rekey", "-status"},
			routes: map[string]reply{"GET /v1/sys/rekey/init": {200, `{"nonce":"r-1","started":true,"t":2,"n":3,"progress":1,"required":3}`}},
			want:   []wantReq{{"GET", "/v1/sys/rekey/init", "", ""}}, out: []string{"1/3"}},
		{name: "rekey cancel", args: []string{"operator", "rekey", "-cancel"},
			routes: map[string]reply{"DELETE /v1/sys/rekey/init": {}},
			want:   []wantReq{{"DELETE", "/v1/sys/rekey/init", "", ""}}},
		{name: "rekey two modes", args: []string{"operator", "rekey", "-init", "-cancel"}, code: ExitUsage, errHas: "exactly one"},
		{name: "rotate", args: []string{"operator", "rotate"},
			routes: map[string]reply{"PUT /v1/sys/rotate": {}, "GET /v1/sys/key-status": {200, `{"term":2,"install_time":"2026-12-03T10:00:00Z"}`}},
			want:   []wantReq{{"PUT", "/v1/sys/rotate", "", ""}, {"GET", "/v1/sys/key-status", "", ""}},
			out:    []string{"Rotated", "Key Term", "2", "2026-12-03T10:00:00Z"}},
		{name: "rotate refused", args: []string{"operator", "rotate"},
			routes: map[string]reply{"PUT /v1/sys/rotate": {403, `{"errors":["permission denied"]}`}},
			want:   []wantReq{{"PUT", "/v1/sys/rotate", "", ""}}, code: ExitError, errHas: "permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, tc.routes)
			res := runCLI(t, map[string]string{envAddr: api.srv.URL, envToken: testToken}, tc.stdin, tc.args...)
			if res.code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, tc.code, res.stdout, res.stderr)
			}
			for _, o := range tc.out {
				if !strings.Contains(res.stdout, o) {
					t.Errorf("stdout lacks %q:\n%s", o, res.stdout)
				}
			}
			if !strings.Contains(res.stderr, tc.errHas) {
				t.Errorf("stderr lacks %q:\n%s", tc.errHas, res.stderr)
			}
			got := api.requests()
			if len(got) != len(tc.want) {
				t.Fatalf("%d requests, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.method != w.method || g.path != w.path || !sameJSON(t, g.body, w.body) {
					t.Errorf("request %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
