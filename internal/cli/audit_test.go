package cli

import (
	"strings"
	"testing"
)

func TestAuditCommands(t *testing.T) {
	t.Parallel()
	const refused = `{"errors":["cannot enable audit device via API; use declarative, config-based audit device management instead (or set unsafe_allow_api_audit_creation = true in the node's config)"]}`
	const listing = `{"data":{"file/":{"type":"file","description":"main log","options":{"file_path":"/var/log/baton/audit.log","mode":"0600"},"path":"file/","local":false},"out/":{"type":"file","description":"","options":{"file_path":"stdout"},"path":"out/","local":false}}}`
	tests := []struct {
		name   string
		args   []string
		routes map[string]reply
		want   []wantReq
		code   int
		out    string
		errHas string
	}{
		{name: "enable", args: []string{"audit", "enable", "-path=main", "-description=d", "file", "file_path=/var/log/a.log", "log_raw=false"},
			routes: map[string]reply{"PUT /v1/sys/audit/main": {204, ""}},
			want:   []wantReq{{"PUT", "/v1/sys/audit/main", "", `{"type":"file","description":"d","options":{"file_path":"/var/log/a.log","log_raw":"false"}}`}},
			out:    "Success! Enabled the file audit device at: main/\n"},
		{name: "enable at the type's path", args: []string{"audit", "enable", "file", "file_path=stdout"},
			routes: map[string]reply{"PUT /v1/sys/audit/file": {204, ""}},
			want:   []wantReq{{"PUT", "/v1/sys/audit/file", "", `{"type":"file","options":{"file_path":"stdout"}}`}},
			out:    "Success! Enabled the file audit device at: file/\n"},
		{name: "enable refused says which setting", args: []string{"audit", "enable", "file", "file_path=/tmp/x"},
			routes: map[string]reply{"PUT /v1/sys/audit/file": {400, refused}},
			want:   []wantReq{{"PUT", "/v1/sys/audit/file", "", `{"type":"file","options":{"file_path":"/tmp/x"}}`}},
			code:   ExitError, errHas: "unsafe_allow_api_audit_creation = true"},
		{name: "enable needs a type", args: []string{"audit", "enable"}, code: ExitUsage, errHas: "not enough arguments"},
		{name: "enable bad pair", args: []string{"audit", "enable", "file", "file_path"}, code: ExitUsage, errHas: "missing '='"},
		{name: "disable", args: []string{"audit", "disable", "main/"},
			routes: map[string]reply{"DELETE /v1/sys/audit/main": {204, ""}},
			want:   []wantReq{{"DELETE", "/v1/sys/audit/main", "", ""}},
			out:    "Success! Disabled audit device (if it was enabled) at: main/\n"},
		{name: "disable a config device refused", args: []string{"audit", "disable", "file"},
			routes: map[string]reply{"DELETE /v1/sys/audit/file": {400, `{"errors":["cannot disable configuration-managed audit device"]}`}},
			want:   []wantReq{{"DELETE", "/v1/sys/audit/file", "", ""}},
			code:   ExitError, errHas: "configuration-managed"},
		{name: "list", args: []string{"audit", "list"},
			routes: map[string]reply{"GET /v1/sys/audit": {200, listing}},
			want:   []wantReq{{"GET", "/v1/sys/audit", "", ""}},
			out:    "Path     Type    Description\n----     ----    -----------\nfile/    file    main log\nout/     file\n"},
		{name: "list detailed", args: []string{"audit", "list", "-detailed"},
			routes: map[string]reply{"GET /v1/sys/audit": {200, listing}},
			want:   []wantReq{{"GET", "/v1/sys/audit", "", ""}},
			out:    "Path     Type    Description    Options\n----     ----    -----------    -------\nfile/    file    main log       [file_path:/var/log/baton/audit.log mode:0600]\nout/     file                   [file_path:stdout]\n"},
		{name: "list none", args: []string{"audit", "list"},
			routes: map[string]reply{"GET /v1/sys/audit": {200, `{"data":{}}`}},
			want:   []wantReq{{"GET", "/v1/sys/audit", "", ""}},
			out:    "No audit devices are enabled.\n"},
		{name: "list refused", args: []string{"audit", "list"},
			routes: map[string]reply{"GET /v1/sys/audit": {403, `{"errors":["permission denied"]}`}},
			want:   []wantReq{{"GET", "/v1/sys/audit", "", ""}},
			code:   ExitError, errHas: "permission denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t, tc.routes)
			res := runCLI(t, map[string]string{envAddr: api.srv.URL, envToken: testToken}, "", tc.args...)
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
