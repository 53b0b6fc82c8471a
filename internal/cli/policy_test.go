package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyCommands(t *testing.T) {
	t.Parallel()
	const text = "path \"database/creds/ro\" {\n  capabilities = [\"read\"]\n}\n"
	file := filepath.Join(t.TempDir(), "app.hcl")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		routes map[string]reply
		want   []wantReq
		code   int
		out    string
		errHas string
	}{
		{name: "write from a file", args: []string{"policy", "write", "app", file},
			routes: map[string]reply{"PUT /v1/sys/policies/acl/app": {}},
			want:   []wantReq{{"PUT", "/v1/sys/policies/acl/app", "", `{"policy":` + jsonString(text) + `}`}},
			out:    "Success! Uploaded policy: app\n"},
		{name: "write from stdin", args: []string{"policy", "write", "app", "-"}, stdin: text,
			routes: map[string]reply{"PUT /v1/sys/policies/acl/app": {}},
			want:   []wantReq{{"PUT", "/v1/sys/policies/acl/app", "", `{"policy":` + jsonString(text) + `}`}},
			out:    "Success! Uploaded policy: app\n"},
		{name: "write refused with the server's position", args: []string{"policy", "write", "app", "-"}, stdin: "path {",
			routes: map[string]reply{"PUT /v1/sys/policies/acl/app": {http.StatusBadRequest, `{"errors":["invalid policy request: policy \"app\", line 1, column 6: bad"]}`}},
			want:   []wantReq{{"PUT", "/v1/sys/policies/acl/app", "", `{"policy":"path {"}`}},
			code:   ExitError, errHas: "line 1, column 6"},
		{name: "write a missing file", args: []string{"policy", "write", "app", filepath.Join(t.TempDir(), "nope.hcl")},
			code: ExitUsage, errHas: "reading the policy file"},
		{name: "read prints the text", args: []string{"policy", "read", "app"},
			routes: map[string]reply{"GET /v1/sys/policies/acl/app": {200, `{"data":{"name":"app","policy":` + jsonString(text) + `}}`}},
			want:   []wantReq{{"GET", "/v1/sys/policies/acl/app", "", ""}},
			out:    text},
		{name: "read a missing policy", args: []string{"policy", "read", "nope"},
			routes: map[string]reply{"GET /v1/sys/policies/acl/nope": {404, `{"errors":[]}`}},
			want:   []wantReq{{"GET", "/v1/sys/policies/acl/nope", "", ""}},
			code:   ExitUsage, errHas: "No value found at sys/policies/acl/nope"},
		{name: "list", args: []string{"policy", "list"},
			routes: map[string]reply{"GET /v1/sys/policies/acl": {200, `{"data":{"keys":["app","default","root"]}}`}},
			want:   []wantReq{{"GET", "/v1/sys/policies/acl", "list=true", ""}},
			out:    "app\ndefault\nroot\n"},
		{name: "delete", args: []string{"policy", "delete", "app"},
			routes: map[string]reply{"DELETE /v1/sys/policies/acl/app": {}},
			want:   []wantReq{{"DELETE", "/v1/sys/policies/acl/app", "", ""}},
			out:    "Success! Deleted policy: app\n"},
		{name: "delete root refused", args: []string{"policy", "delete", "root"},
			routes: map[string]reply{"DELETE /v1/sys/policies/acl/root": {400, `{"errors":["invalid policy request: cannot modify a built-in policy: \"root\" cannot be deleted"]}`}},
			want:   []wantReq{{"DELETE", "/v1/sys/policies/acl/root", "", ""}},
			code:   ExitError, errHas: "built-in"},
		{name: "write needs two arguments", args: []string{"policy", "write", "app"}, code: ExitUsage, errHas: "Usage: node policy write"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, tc.routes)
			res := runCLI(t, map[string]string{envAddr: api.srv.URL, envToken: testToken}, tc.stdin, tc.args...)
			if res.code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, tc.code, res.stdout, res.stderr)
			}
			if tc.out != "" && res.stdout != tc.out {
				t.Errorf("stdout:\n%q\nwant:\n%q", res.stdout, tc.out)
			}
			if !strings.Contains(res.stderr, tc.errHas) {
				t.Errorf("stderr lacks %q:\n%s", tc.errHas, res.stderr)
			}
			if strings.Contains(res.stdout+res.stderr, testToken) {
				t.Error("the token appears in the output")
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

func jsonString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
