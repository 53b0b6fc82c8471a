package cli

import (
	"encoding/base64"
	"strings"
	"testing"
)

const createReply = `{"auth":{"client_token":"s.NEWTOKEN","accessor":"ACC1","policies":["app","default"],"token_policies":["app","default"],"metadata":{"team":"a"},"lease_duration":3600,"renewable":true}}`

func TestTokenCommands(t *testing.T) {
	t.Parallel()
	otp := strings.Repeat("x", 26)
	tok := "s.ABCDEFGHIJKLMNOPQRSTUVWX"
	enc := make([]byte, len(tok))
	for i := range enc {
		enc[i] = tok[i] ^ otp[i]
	}
	encoded := base64.RawStdEncoding.EncodeToString(enc)
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
		{name: "create with every flag", args: []string{"token", "create", "-policy=app", "-policy=db,ops", "-ttl=1h", "-period=30m",
			"-explicit-max-ttl=2h", "-display-name=web", "-use-limit=3", "-no-default-policy", "-metadata=team=a", "-renewable=false"},
			routes: map[string]reply{"POST /v1/auth/token/create": {200, createReply}},
			want: []wantReq{{"POST", "/v1/auth/token/create", "", `{"policies":["app","db","ops"],"ttl":3600,"period":1800,"explicit_max_ttl":7200,
				"display_name":"web","num_uses":3,"no_default_policy":true,"meta":{"team":"a"},"renewable":false}`}},
			out: []string{"token  ", "s.NEWTOKEN", "token_accessor", "ACC1", "token_duration", "1h", "[app default]", "token_meta_team"}},
		{name: "create orphan, field", args: []string{"token", "create", "-orphan", "-field=token"},
			routes: map[string]reply{"POST /v1/auth/token/create-orphan": {200, createReply}},
			want:   []wantReq{{"POST", "/v1/auth/token/create-orphan", "", `{"renewable":true}`}},
			out:    []string{"s.NEWTOKEN\n"}},
		{name: "create refused", args: []string{"token", "create", "-policy=admin"},
			routes: map[string]reply{"POST /v1/auth/token/create": {400, `{"errors":["invalid request: child policies must be subset of parent"]}`}},
			want:   []wantReq{{"POST", "/v1/auth/token/create", "", `{"policies":["admin"],"renewable":true}`}},
			code:   ExitError, errHas: "subset of parent"},
		{name: "bad metadata", args: []string{"token", "create", "-metadata=novalue"}, code: ExitUsage, errHas: "KEY=VALUE"},
		{name: "lookup self", args: []string{"token", "lookup"},
			routes: map[string]reply{"GET /v1/auth/token/lookup-self": {200, `{"data":{"accessor":"ACC1","policies":["default"],"ttl":60}}`}},
			want:   []wantReq{{"GET", "/v1/auth/token/lookup-self", "", ""}},
			out:    []string{"accessor", "ACC1"}},
		{name: "lookup a token", args: []string{"token", "lookup", "s.OTHER"},
			routes: map[string]reply{"POST /v1/auth/token/lookup": {200, `{"data":{"accessor":"ACC2"}}`}},
			want:   []wantReq{{"POST", "/v1/auth/token/lookup", "", `{"token":"s.OTHER"}`}},
			out:    []string{"ACC2"}},
		{name: "lookup an accessor", args: []string{"token", "lookup", "-accessor", "ACC2"},
			routes: map[string]reply{"POST /v1/auth/token/lookup-accessor": {200, `{"data":{"accessor":"ACC2"}}`}},
			want:   []wantReq{{"POST", "/v1/auth/token/lookup-accessor", "", `{"accessor":"ACC2"}`}},
			out:    []string{"ACC2"}},
		{name: "renew self", args: []string{"token", "renew", "-increment=2h"},
			routes: map[string]reply{"POST /v1/auth/token/renew-self": {200, createReply}},
			want:   []wantReq{{"POST", "/v1/auth/token/renew-self", "", `{"increment":7200}`}},
			out:    []string{"token_duration"}},
		{name: "renew a token", args: []string{"token", "renew", "s.OTHER"},
			routes: map[string]reply{"POST /v1/auth/token/renew": {200, createReply}},
			want:   []wantReq{{"POST", "/v1/auth/token/renew", "", `{"token":"s.OTHER"}`}}},
		{name: "revoke", args: []string{"token", "revoke", "s.OTHER"},
			routes: map[string]reply{"POST /v1/auth/token/revoke": {}},
			want:   []wantReq{{"POST", "/v1/auth/token/revoke", "", `{"token":"s.OTHER"}`}},
			out:    []string{"Success! Revoked token (if it existed)\n"}},
		{name: "revoke orphan mode", args: []string{"token", "revoke", "-mode=orphan", "s.OTHER"},
			routes: map[string]reply{"POST /v1/auth/token/revoke-orphan": {}},
			want:   []wantReq{{"POST", "/v1/auth/token/revoke-orphan", "", `{"token":"s.OTHER"}`}}},
		{name: "revoke accessor", args: []string{"token", "revoke", "-accessor", "ACC2"},
			routes: map[string]reply{"POST /v1/auth/token/revoke-accessor": {}},
			want:   []wantReq{{"POST", "/v1/auth/token/revoke-accessor", "", `{"accessor":"ACC2"}`}}},
		{name: "revoke self", args: []string{"token", "revoke", "-self"},
			routes: map[string]reply{"POST /v1/auth/token/revoke-self": {}},
			want:   []wantReq{{"POST", "/v1/auth/token/revoke-self", "", ""}}},
		{name: "revoke with nothing", args: []string{"token", "revoke"}, code: ExitUsage, errHas: "-self"},
		{name: "revoke self with a token", args: []string{"token", "revoke", "-self", "s.X"}, code: ExitUsage, errHas: "-self takes no argument"},
		{name: "revoke accessor orphan", args: []string{"token", "revoke", "-accessor", "-mode=orphan", "A"}, code: ExitUsage, errHas: "cannot be used together"},
		{name: "revoke bad mode", args: []string{"token", "revoke", "-mode=path", "s.X"}, code: ExitUsage, errHas: "only orphan"},
		{name: "generate-root init", args: []string{"operator", "generate-root", "-init"},
			routes: map[string]reply{"PUT /v1/sys/generate-root/attempt": {200, `{"nonce":"N1","started":true,"progress":0,"required":1,"otp":"` + otp + `","otp_length":26}`}},
			want:   []wantReq{{"PUT", "/v1/sys/generate-root/attempt", "", `{}`}},
			out:    []string{"N1", otp, "0/1"}},
		{name: "generate-root update from stdin", args: []string{"operator", "generate-root", "-nonce=N1"}, stdin: "KEYB64\n",
			routes: map[string]reply{"PUT /v1/sys/generate-root/update": {200, `{"nonce":"N1","started":true,"progress":1,"required":1,"complete":true,"encoded_token":"` + encoded + `"}`}},
			want:   []wantReq{{"PUT", "/v1/sys/generate-root/update", "", `{"key":"KEYB64","nonce":"N1"}`}},
			out:    []string{"Encoded Token", encoded}},
		{name: "generate-root decode", args: []string{"operator", "generate-root", "-decode=" + encoded, "-otp=" + otp}, out: []string{tok + "\n"}},
		{name: "generate-root decode with a wrong otp", args: []string{"operator", "generate-root", "-decode=" + encoded, "-otp=short"}, code: ExitError, errHas: "differ in length"},
		{name: "generate-root two modes", args: []string{"operator", "generate-root", "-init", "-cancel"}, code: ExitUsage, errHas: "exactly one"},
		{name: "generate-root cancel", args: []string{"operator", "generate-root", "-cancel"},
			routes: map[string]reply{"DELETE /v1/sys/generate-root/attempt": {}},
			want:   []wantReq{{"DELETE", "/v1/sys/generate-root/attempt", "", ""}}},
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
			if strings.Contains(res.stdout+res.stderr, testToken) {
				t.Error("the caller's token appears in the output")
			}
			got := api.requests()
			if len(got) != len(tc.want) {
				t.Fatalf("%d requests, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.method != w.method || g.path != w.path || g.query != w.query || g.token != testToken || !sameJSON(t, g.body, w.body) {
					t.Errorf("request %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
