package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// rawCall sends body as it is (it may be malformed) with token ("" sends none) and returns
// the status and the reply's errors joined.
func rawCall(ctx context.Context, hc *http.Client, addr, token, method, path, body string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, addr+"/v1/"+path, rd)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, "", fmt.Errorf("%s %s: %d, reply is not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, strings.Join(out.Errors, "; "), nil
}

// snapshot is everything a refused request must leave as it was: the applied commands and
// what the catalog, mounts, connections and roles read back.
type snapshot struct {
	Applied                       int
	LastApplied                   string
	Catalog, Mounts, Config, Role string
	Configs, Roles                []string
}

func takeSnapshot(t *testing.T, ctx context.Context, cl *testutil.Client) snapshot {
	t.Helper()
	var s snapshot
	l, err := readLifecycle(ctx, cl, true)
	if err != nil {
		t.Fatal(err)
	}
	s.Applied = len(l.Applied)
	if s.Applied > 0 {
		s.LastApplied = l.Applied[s.Applied-1].ID
	}
	// Reads whose data is the same whenever nothing changed (request ids left out).
	read := func(path string) string {
		r := cl.Must(t, ctx, "GET", path, nil, http.StatusOK, http.StatusNotFound)
		b, _ := json.Marshal(canonical(r.Body["data"]))
		return fmt.Sprintf("%d %s", r.Status, b)
	}
	s.Catalog = read("sys/plugins/catalog")
	s.Mounts = read("sys/mounts")
	s.Config = read(harness.Mount + "/config/" + harness.TestConn)
	s.Role = read(harness.Mount + "/roles/" + harness.TestRole)
	s.Configs = listKeys(t, ctx, cl, harness.Mount+"/config")
	s.Roles = listKeys(t, ctx, cl, harness.Mount+"/roles")
	return s
}

// canonical sorts the lists of a decoded JSON value that hold objects, so that map order on
// the server does not count as a change.
func canonical(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = canonical(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = canonical(e)
		}
		sort.SliceStable(x, func(i, j int) bool {
			a, _ := json.Marshal(x[i])
			b, _ := json.Marshal(x[j])
			return string(a) < string(b)
		})
		return x
	}
	return v
}

func listKeys(t *testing.T, ctx context.Context, cl *testutil.Client, path string) []string {
	t.Helper()
	r := cl.Must(t, ctx, "LIST", path, nil, http.StatusOK, http.StatusNotFound)
	var keys []string
	if ks, ok := r.Data()["keys"].([]any); ok {
		for _, k := range ks {
			keys = append(keys, fmt.Sprint(k))
		}
	}
	return keys
}

// TestBadInput sends every endpoint input it must refuse: each answer is a 4xx whose message
// says what to fix, and nothing changes (the applied commands and every read stay the same).
func TestBadInput(t *testing.T) {
	c := harness.Start(t, harness.Options{Nodes: 1})
	c.SetupTestDB(t)
	n := c.Nodes[0]
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: callTimeout}
	ctx := testutil.Context(t, 5*callTimeout)
	good := c.TestPlugin.SHA256
	catalogBody := func(extra string) string {
		return `{"sha256":"` + good + `","command":"baton-test-plugin"` + extra + `}`
	}
	const (
		catalogPath = "sys/plugins/catalog/database/newplug"
		configPath  = harness.Mount + "/config/c2"
	)
	tests := []struct {
		name, method, path, body string
		token                    string // "" means the root token; "-" sends none
		status                   int
		msg                      []string // every one must be in the message
	}{
		// catalog
		{name: "catalog: missing sha256", method: "PUT", path: catalogPath, body: `{"command":"baton-test-plugin"}`,
			status: 400, msg: []string{"sha256 is required", "sha256sum"}},
		{name: "catalog: sha256 too short", method: "PUT", path: catalogPath, body: `{"sha256":"abc123","command":"baton-test-plugin"}`,
			status: 400, msg: []string{"sha256", "64 hex characters"}},
		{name: "catalog: sha256 not hex", method: "PUT", path: catalogPath, body: `{"sha256":"` + strings.Repeat("z", 64) + `","command":"baton-test-plugin"}`,
			status: 400, msg: []string{"not a hex digit", "64 hex characters"}},
		{name: "catalog: sha256 of another binary", method: "PUT", path: catalogPath, body: `{"sha256":"` + strings.Repeat("ab", 32) + `","command":"baton-test-plugin"}`,
			status: 400, msg: []string{"sha256"}},
		{name: "catalog: command escaping the plugin directory", method: "PUT", path: catalogPath, body: `{"sha256":"` + good + `","command":"../x"}`,
			status: 400, msg: []string{"'..'", "relative to the plugin directory"}},
		{name: "catalog: absolute command", method: "PUT", path: catalogPath, body: `{"sha256":"` + good + `","command":"/bin/sh"}`,
			status: 400, msg: []string{"absolute path", "relative to the plugin directory"}},
		{name: "catalog: command not in the plugin directory", method: "PUT", path: catalogPath, body: `{"sha256":"` + good + `","command":"nope"}`,
			status: 400, msg: []string{"does not exist", "copy the plugin binary"}},
		{name: "catalog: unknown type", method: "PUT", path: "sys/plugins/catalog/kv/newplug", body: catalogBody(""),
			status: 400, msg: []string{`"kv"`, "use database, secret or auth"}},
		{name: "catalog: malformed JSON", method: "PUT", path: catalogPath, body: `{"sha256": `,
			status: 400, msg: []string{"not a JSON object"}},
		{name: "catalog: non-root token", method: "PUT", path: catalogPath, body: catalogBody(""), token: "s.not-the-root-token",
			status: 403, msg: []string{"permission denied"}},
		{name: "catalog: no token", method: "PUT", path: catalogPath, body: catalogBody(""), token: "-",
			status: 403, msg: []string{"permission denied"}},
		{name: "catalog delete: non-root token", method: "DELETE", path: "sys/plugins/catalog/database/baton-test-plugin", token: "s.not-the-root-token",
			status: 403, msg: []string{"permission denied"}},

		// mounts
		{name: "mount: wrong type", method: "POST", path: "sys/mounts/kv", body: `{"type":"kv"}`,
			status: 400, msg: []string{`"kv"`, `serves "database"`}},
		{name: "mount: missing type", method: "POST", path: "sys/mounts/other", body: `{}`,
			status: 400, msg: []string{"type is required", `"database"`}},
		{name: "mount: path in use", method: "POST", path: "sys/mounts/" + harness.Mount, body: `{"type":"database"}`,
			status: 400, msg: []string{"already in use"}},
		{name: "mount: under sys/", method: "POST", path: "sys/mounts/sys/x", body: `{"type":"database"}`,
			status: 400, msg: []string{"reserved"}},
		{name: "mount: non-root token", method: "POST", path: "sys/mounts/other", body: `{"type":"database"}`, token: "s.not-the-root-token",
			status: 403, msg: []string{"permission denied"}},

		// database config
		{name: "config: unknown plugin", method: "POST", path: configPath, body: `{"plugin_name":"nope"}`,
			status: 400, msg: []string{`"nope"`, "not registered", "sys/plugins/catalog/database/nope"}},
		{name: "config: missing plugin_name", method: "POST", path: configPath, body: `{"username":"root"}`,
			status: 400, msg: []string{"plugin_name is required"}},
		{name: "config: plugin_version not registered", method: "POST", path: configPath, body: `{"plugin_name":"baton-test-plugin","plugin_version":"v9.9.9"}`,
			status: 400, msg: []string{"v9.9.9", "not registered", "sys/plugins/catalog/database/baton-test-plugin"}},
		{name: "config: plugin_version not a version", method: "POST", path: configPath, body: `{"plugin_name":"baton-test-plugin","plugin_version":"latest"}`,
			status: 400, msg: []string{"plugin_version"}},
		{name: "config: verify_connection not a boolean", method: "POST", path: configPath, body: `{"plugin_name":"baton-test-plugin","verify_connection":"maybe"}`,
			status: 400, msg: []string{"verify_connection", "true or false"}},
		{name: "config: bad password_policy", method: "POST", path: configPath, body: `{"plugin_name":"baton-test-plugin","password_policy":"length=3"}`,
			status: 400, msg: []string{"password_policy", "sys/policies/password"}},
		{name: "config: update refused by the plugin", method: "POST", path: harness.Mount + "/config/" + harness.TestConn, body: `{"password":"wrong-root-password"}`,
			status: 400, msg: []string{"error creating database object"}},
		{name: "config: malformed JSON", method: "POST", path: configPath, body: `[1,2]`,
			status: 400, msg: []string{"not a JSON object"}},
		{name: "config: non-root token", method: "POST", path: configPath, body: `{"plugin_name":"baton-test-plugin"}`, token: "s.not-the-root-token",
			status: 403, msg: []string{"permission denied"}},
		{name: "config delete: non-root token", method: "DELETE", path: harness.Mount + "/config/" + harness.TestConn, token: "s.not-the-root-token",
			status: 403, msg: []string{"permission denied"}},
		{name: "config: unmounted path", method: "POST", path: "nomount/config/c2", body: `{"plugin_name":"baton-test-plugin"}`,
			status: 404, msg: []string{"nothing is mounted there"}},

		// roles
		{name: "role: not allowed on this connection", method: "POST", path: harness.Mount + "/roles/other", body: `{"db_name":"` + harness.TestConn + `"}`,
			status: 400, msg: []string{`"other"`, "not allowed", "allowed_roles"}},
		{name: "role: missing db_name", method: "POST", path: harness.Mount + "/roles/r3", body: `{"default_ttl":"1h"}`,
			status: 400, msg: []string{"db_name is required"}},
		{name: "role: db_name of a missing connection", method: "POST", path: harness.Mount + "/roles/" + harness.TestRole, body: `{"db_name":"missing"}`,
			status: 400, msg: []string{`"missing"`, "no such connection"}},
		{name: "role: default_ttl above max_ttl", method: "POST", path: harness.Mount + "/roles/" + harness.TestRole, body: `{"db_name":"` + harness.TestConn + `","default_ttl":"2h","max_ttl":"1h"}`,
			status: 400, msg: []string{"default_ttl", "max_ttl"}},
		{name: "role: ttl not a duration", method: "POST", path: harness.Mount + "/roles/" + harness.TestRole, body: `{"default_ttl":"soon"}`,
			status: 400, msg: []string{"default_ttl", `"1h"`}},
		{name: "role: default_ttl overflows", method: "POST", path: harness.Mount + "/roles/" + harness.TestRole, body: `{"db_name":"` + harness.TestConn + `","default_ttl":99999999999999999}`,
			status: 400, msg: []string{"default_ttl", "whole number of seconds"}},
		{name: "role: negative max_ttl", method: "POST", path: harness.Mount + "/roles/" + harness.TestRole, body: `{"db_name":"` + harness.TestConn + `","max_ttl":-5}`,
			status: 400, msg: []string{"max_ttl"}},
		{name: "role: name with NUL", method: "POST", path: harness.Mount + "/roles/r%00o", body: `{"db_name":"` + harness.TestConn + `","creation_statements":"CREATE ROLE \"{{name}}\""}`,
			status: 400, msg: []string{"role name", "U+0000"}},
		{name: "static role: name with a bidi override", method: "POST", path: harness.Mount + "/static-roles/st%E2%80%AEx", body: `{"db_name":"` + harness.TestConn + `","username":"app"}`,
			status: 400, msg: []string{"static role name", "U+202E"}},
		{name: "config: name with a control character", method: "POST", path: harness.Mount + "/config/c%01", body: `{"plugin_name":"baton-test-plugin"}`,
			status: 400, msg: []string{"connection name", "U+0001"}},
		{name: "mount: path with a '..' segment", method: "POST", path: "sys/mounts/team/../db2", body: `{"type":"database"}`,
			status: 400, msg: []string{`".." segment`}},
		{name: "reload: plugin not in the catalog", method: "PUT", path: "sys/plugins/reload/backend", body: `{"plugin":"no-such-plugin"}`,
			status: 404, msg: []string{`no plugin "no-such-plugin" in the catalog`}},
		{name: "reload: mount that does not exist", method: "PUT", path: "sys/plugins/reload/backend", body: `{"mounts":["` + harness.Mount + `","nope"]}`,
			status: 404, msg: []string{`"nope/"`, "nothing was reloaded"}},
		{name: "health: activecode out of range", method: "GET", path: "sys/health?activecode=1", token: "-",
			status: 400, msg: []string{"activecode", "100 to 599"}},
		{name: "lease renew: increment overflows", method: "PUT", path: "sys/leases/renew", body: `{"lease_id":"database/creds/ro/nope","increment":99999999999999999}`,
			status: 400, msg: []string{"increment"}},
		{name: "role: wrong credential_type", method: "POST", path: harness.Mount + "/roles/" + harness.TestRole, body: `{"credential_type":"rsa_private_key"}`,
			status: 400, msg: []string{"credential_type", "password"}},

		// credentials, rotation and leases
		{name: "creds: unknown role", method: "GET", path: harness.Mount + "/creds/nope",
			status: 404, msg: []string{"unknown role", "nope"}},
		{name: "creds: non-root token", method: "GET", path: harness.Mount + "/creds/" + harness.TestRole, token: "s.not-the-root-token",
			status: 403, msg: []string{"permission denied"}},
		{name: "rotate-root: unknown connection", method: "POST", path: harness.Mount + "/rotate-root/nope",
			status: 404, msg: []string{"nope"}},
		{name: "lease renew: unknown lease", method: "PUT", path: "sys/leases/renew", body: `{"lease_id":"database/creds/ro/nope"}`,
			status: 400, msg: []string{"invalid lease ID", "database/creds/ro/nope"}},
		{name: "lease revoke: unknown lease", method: "PUT", path: "sys/leases/revoke", body: `{"lease_id":"database/creds/ro/nope"}`,
			status: 400, msg: []string{"invalid lease ID", "database/creds/ro/nope"}},
		{name: "lease lookup: unknown lease", method: "PUT", path: "sys/leases/lookup", body: `{"lease_id":"database/creds/ro/nope"}`,
			status: 400, msg: []string{"invalid lease ID"}},
		{name: "lease renew: no lease_id", method: "PUT", path: "sys/leases/renew", body: `{}`,
			status: 400, msg: []string{"lease_id is required"}},
		{name: "lease renew: bad increment", method: "PUT", path: "sys/leases/renew", body: `{"lease_id":"database/creds/ro/nope","increment":"later"}`,
			status: 400, msg: []string{"increment"}},

		// sys
		{name: "init twice", method: "PUT", path: "sys/init", body: `{"secret_shares":1,"secret_threshold":1}`,
			status: 400, msg: []string{"already initialized"}},
		{name: "init: one share of several unseals", method: "PUT", path: "sys/init", body: `{"secret_shares":5,"secret_threshold":1}`,
			status: 400, msg: []string{"secret_threshold must be at least 2"}},
		{name: "init: threshold above shares", method: "PUT", path: "sys/init", body: `{"secret_shares":3,"secret_threshold":4}`,
			status: 400, msg: []string{"secret_threshold must be from 1 to secret_shares"}},
		{name: "init: shares not a number", method: "PUT", path: "sys/init", body: `{"secret_shares":"many","secret_threshold":3}`,
			status: 400, msg: []string{"secret_shares must be a whole number"}},
		{name: "rekey: update without a rekey", method: "PUT", path: "sys/rekey/update", body: `{"key":"AAAA","nonce":"x"}`,
			status: 400, msg: []string{"key"}},
		{name: "unseal: no key", method: "PUT", path: "sys/unseal", body: `{}`,
			status: 400, msg: []string{"key is required"}},
		{name: "unseal: key neither hex nor base64", method: "PUT", path: "sys/unseal", body: `{"key":"not a key!"}`,
			status: 400, msg: []string{"key", "hex or base64"}},
		{name: "step-down: non-root token", method: "PUT", path: "sys/step-down", token: "s.not-the-root-token",
			status: 403, msg: []string{"permission denied"}},
		{name: "seal: non-root token", method: "PUT", path: "sys/seal", token: "s.not-the-root-token",
			status: 403, msg: []string{"permission denied"}},
	}
	cl := n.Client
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := takeSnapshot(t, ctx, cl)
			token := c.Token
			switch tt.token {
			case "":
			case "-":
				token = ""
			default:
				token = tt.token
			}
			status, msg, err := rawCall(ctx, hc, n.APIAddr, token, tt.method, tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status {
				t.Errorf("status %d, want %d (message %q)", status, tt.status, msg)
			}
			for _, want := range tt.msg {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if after := takeSnapshot(t, ctx, cl); !reflect.DeepEqual(before, after) {
				t.Errorf("a refused request changed the state:\nbefore %+v\nafter  %+v", before, after)
			}
			t.Logf("%d %s", status, msg)
		})
	}

	// A wrong unseal key only counts on a sealed node (on an unsealed one OpenBao, and Baton,
	// answer with the seal status): seal, refuse the wrong key, stay sealed, unseal.
	t.Run("unseal: wrong key", func(t *testing.T) {
		before := takeSnapshot(t, ctx, cl)
		cl.Must(t, ctx, "PUT", "sys/seal", nil, http.StatusNoContent)
		wrong := make([]byte, 32)
		_, _ = rand.Read(wrong)
		status, msg, err := rawCall(ctx, hc, n.APIAddr, "", "PUT", "sys/unseal", `{"key":"`+base64.StdEncoding.EncodeToString(wrong)+`"}`)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusBadRequest || !strings.Contains(msg, "does not match") {
			t.Errorf("wrong key: %d %q, want 400 saying the key does not match", status, msg)
		}
		r := cl.Must(t, ctx, "GET", "sys/seal-status", nil)
		if r.Body["sealed"] != true {
			t.Fatalf("a wrong key unsealed the node: %s", r.Raw)
		}
		cl.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": c.Key})
		c.WaitActive(t, nil, failoverTimeout)
		after := takeSnapshot(t, ctx, cl)
		// Unsealing records the node's own activation; what an operator configured is the same.
		before.Applied, before.LastApplied, after.Applied, after.LastApplied = 0, "", 0, ""
		if !reflect.DeepEqual(before, after) {
			t.Errorf("seal, wrong key, unseal changed the configuration:\nbefore %+v\nafter  %+v", before, after)
		}
	})

	// Unknown fields are accepted as OpenBao accepts them, with a warning, and never stored.
	t.Run("role: unknown field ignored", func(t *testing.T) {
		r := cl.Must(t, ctx, "GET", harness.Mount+"/roles/"+harness.TestRole, nil)
		role := r.Data()
		body := map[string]any{"color": "red"}
		for k, v := range role {
			body[k] = v
		}
		w := cl.Must(t, ctx, "POST", harness.Mount+"/roles/"+harness.TestRole, body, http.StatusOK)
		if !strings.Contains(w.Raw, "ignored these unrecognized parameters: [color]") {
			t.Errorf("no warning naming the ignored field: %s", w.Raw)
		}
		after := cl.Must(t, ctx, "GET", harness.Mount+"/roles/"+harness.TestRole, nil).Data()
		if _, ok := after["color"]; ok || !reflect.DeepEqual(role, after) {
			t.Errorf("the role changed or stored the unknown field:\nbefore %v\nafter  %v", role, after)
		}
	})
}
