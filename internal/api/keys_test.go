package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/internal/core"
)

// fakeKeys records the SealKeys calls and answers fixed values.
type fakeKeys struct {
	mu       sync.Mutex
	calls    []string
	shares   int
	thresh   int
	progress int
	nonce    string
	status   core.KeyStatus
	rekey    core.RekeyStatus
	err      error
}

func (f *fakeKeys) call(s string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, strings.TrimSpace(s+" "+fmt.Sprintln(args...)))
}

func (f *fakeKeys) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeKeys) InitShares(_ context.Context, root string, n, t int) (core.InitResult, error) {
	f.call("InitShares", root, n, t)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = base64.StdEncoding.EncodeToString([]byte{byte(i), 0xff})
	}
	return core.InitResult{Keys: keys, RootToken: "s.root"}, f.err
}
func (f *fakeKeys) SealCounts() (int, int)             { return f.shares, f.thresh }
func (f *fakeKeys) UnsealProgress() (int, string)      { return f.progress, f.nonce }
func (f *fakeKeys) ResetUnseal()                       { f.call("ResetUnseal") }
func (f *fakeKeys) KeyStatus() (core.KeyStatus, error) { return f.status, nil }
func (f *fakeKeys) RotateKeyring(context.Context) (core.KeyStatus, error) {
	f.call("RotateKeyring")
	return f.status, f.err
}
func (f *fakeKeys) RekeyStatus() (core.RekeyStatus, error) {
	f.call("RekeyStatus")
	return f.rekey, f.err
}
func (f *fakeKeys) RekeyInit(n, t int, verify bool) (core.RekeyStatus, error) {
	f.call("RekeyInit", n, t, verify)
	return f.rekey, f.err
}
func (f *fakeKeys) RekeyVerify(_ context.Context, key, nonce string) (core.RekeyStatus, error) {
	f.call("RekeyVerify", key, nonce)
	return f.rekey, f.err
}
func (f *fakeKeys) RekeyCancel() error { f.call("RekeyCancel"); return f.err }
func (f *fakeKeys) RekeyUpdate(_ context.Context, key, nonce string) (core.RekeyStatus, error) {
	f.call("RekeyUpdate", key, nonce)
	return f.rekey, f.err
}

func newKeysServer() (http.Handler, *fakeNode, *fakeKeys) {
	n := newFakeNode()
	tk := newFakeTokens(n)
	tk.ids["s.app"] = auth.Identity{Accessor: "app-acc", Policies: []string{"app", "default"}, DisplayName: "token-app"}
	k := &fakeKeys{shares: 5, thresh: 3, progress: 2, nonce: "n-1", status: core.KeyStatus{Term: 3, InstallTime: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)}}
	return New(Config{Node: n, Secrets: newFakeSecrets(), Tokens: tk, SealKeys: k, Version: "v-test"}).Handler(), n, k
}

// TestInitShares: sys/init passes secret_shares and secret_threshold to the one init
// action and answers the shares as hex and base64; bad counts are 400 and init nothing.
func TestInitShares(t *testing.T) {
	h, n, k := newKeysServer()
	n.initialized = false
	r := do(t, h, "PUT", "/v1/sys/init", map[string]any{"secret_shares": 5, "secret_threshold": 3})
	if r.status != 200 || len(r.body["keys"].([]any)) != 5 || r.body["root_token"] != "s.root" {
		t.Fatalf("init: %d %s", r.status, r.raw)
	}
	if r.body["keys"].([]any)[1] != hex.EncodeToString([]byte{1, 0xff}) || r.body["keys_base64"].([]any)[1] != base64.StdEncoding.EncodeToString([]byte{1, 0xff}) {
		t.Fatalf("key encodings: %s", r.raw)
	}
	if r := do(t, h, "PUT", "/v1/sys/init", map[string]any{}); r.status != 200 {
		t.Fatalf("init with defaults: %d %s", r.status, r.raw)
	}
	if got := k.got(); !reflect.DeepEqual(got, []string{"InitShares  5 3", "InitShares  1 1"}) {
		t.Fatalf("calls = %q", got)
	}
	for _, body := range []map[string]any{{"secret_shares": 5}, {"secret_shares": "five", "secret_threshold": 3}, {"secret_shares": 5, "secret_threshold": []int{3}}} {
		if r := do(t, h, "PUT", "/v1/sys/init", body); r.status != 400 {
			t.Errorf("init %v: %d %s", body, r.status, r.raw)
		}
	}
	if len(k.got()) != 2 {
		t.Fatalf("a refused init reached the node: %q", k.got())
	}
	// Without key management, only a single key is issued.
	h2 := newTestServer(newFakeNode(), newFakeSecrets())
	if r := do(t, h2, "PUT", "/v1/sys/init", map[string]any{"secret_shares": 5, "secret_threshold": 3}); r.status != 400 {
		t.Fatalf("shares without key management: %d %s", r.status, r.raw)
	}
}

// TestInitRefusesPGPAndRecovery: OpenBao's Go client sends every InitRequest field, zero
// ones included (pgp_keys null, root_token_pgp_key "", recovery_shares 0), and those init; a
// caller asking for PGP-encrypted shares, a PGP-encrypted root token or recovery keys gets a
// 400 naming the field, instead of shares in clear, and nothing is initialised.
func TestInitRefusesPGPAndRecovery(t *testing.T) {
	h, n, k := newKeysServer()
	n.initialized = false
	client := map[string]any{"secret_shares": 5, "secret_threshold": 3, "pgp_keys": nil, "recovery_shares": 0,
		"recovery_threshold": 0, "recovery_pgp_keys": nil, "root_token_pgp_key": ""}
	if r := do(t, h, "PUT", "/v1/sys/init", client); r.status != 200 {
		t.Fatalf("init as OpenBao's client sends it: %d %s", r.status, r.raw)
	}
	for _, tc := range []struct{ field string }{{"pgp_keys"}, {"root_token_pgp_key"}, {"recovery_shares"}, {"recovery_threshold"}, {"recovery_pgp_keys"}} {
		body := map[string]any{"secret_shares": 5, "secret_threshold": 3}
		switch tc.field {
		case "pgp_keys", "recovery_pgp_keys":
			body[tc.field] = []string{"keybase:someone", "keybase:other"}
		case "root_token_pgp_key":
			body[tc.field] = "mQENBF..."
		default:
			body[tc.field] = 3
		}
		r := do(t, h, "PUT", "/v1/sys/init", body)
		if r.status != 400 || !strings.Contains(r.raw, tc.field) {
			t.Errorf("init with %s: %d %s; want 400 naming it", tc.field, r.status, r.raw)
		}
	}
	if got := k.got(); len(got) != 1 {
		t.Fatalf("a refused init reached the node: %q", got)
	}
}

// TestSealStatusProgress: sys/seal-status says the truth of t, n, progress and nonce, and
// sys/unseal reset=true resets the progress.
func TestSealStatusProgress(t *testing.T) {
	h, n, k := newKeysServer()
	n.sealed = true
	r := do(t, h, "GET", "/v1/sys/seal-status", nil)
	if r.body["type"] != "shamir" || r.body["t"] != 3.0 || r.body["n"] != 5.0 || r.body["progress"] != 2.0 || r.body["nonce"] != "n-1" || r.body["sealed"] != true {
		t.Fatalf("seal-status: %s", r.raw)
	}
	if r := do(t, h, "PUT", "/v1/sys/unseal", map[string]any{"reset": true}); r.status != 200 || !reflect.DeepEqual(k.got(), []string{"ResetUnseal"}) {
		t.Fatalf("reset: %d %s %q", r.status, r.raw, k.got())
	}
	n.initialized = false
	if r := do(t, h, "GET", "/v1/sys/seal-status", nil); r.body["t"] != 0.0 || r.body["n"] != 0.0 {
		t.Fatalf("uninitialised seal-status: %s", r.raw)
	}
}

// TestRotateAndKeyStatusAsAnAttacker: sys/rotate and sys/key-status need a root token: none,
// a wrong one and a non-root one are 403 and rotate nothing; root rotates.
func TestRotateAndKeyStatusAsAnAttacker(t *testing.T) {
	h, _, k := newKeysServer()
	for _, c := range []struct {
		name, method, path string
		hdr                []string
	}{
		{"no token", "PUT", "/v1/sys/rotate", []string{TokenHeader, ""}},
		{"wrong token", "PUT", "/v1/sys/rotate", []string{TokenHeader, "s.guess"}},
		{"non-root", "PUT", "/v1/sys/rotate", []string{TokenHeader, "s.app"}},
		{"non-root keyring", "POST", "/v1/sys/rotate/keyring", []string{TokenHeader, "s.app"}},
		{"no token key-status", "GET", "/v1/sys/key-status", []string{TokenHeader, ""}},
	} {
		if r := do(t, h, c.method, c.path, nil, c.hdr...); r.status != 403 {
			t.Errorf("%s: %d %s", c.name, r.status, r.raw)
		}
	}
	if got := k.got(); len(got) != 0 {
		t.Fatalf("refused requests reached the keys: %q", got)
	}
	if r := do(t, h, "PUT", "/v1/sys/rotate", nil); r.status != 204 {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "PUT", "/v1/sys/rotate/root", nil); r.status != 404 {
		t.Fatalf("rotate/root: %d %s", r.status, r.raw)
	}
	if got := k.got(); !reflect.DeepEqual(got, []string{"RotateKeyring"}) {
		t.Fatalf("calls = %q", got)
	}
	r := do(t, h, "GET", "/v1/sys/key-status", nil)
	if r.status != 200 || r.body["term"] != 3.0 || r.body["install_time"] != "2026-12-03T10:00:00Z" {
		t.Fatalf("key-status: %d %s", r.status, r.raw)
	}
}

// TestRekeyEndpoints: sys/rekey/init and update call their one action with what was asked;
// missing counts, key or nonce are 400 and reach nothing; the completing update answers keys.
func TestRekeyEndpoints(t *testing.T) {
	h, _, k := newKeysServer()
	k.rekey = core.RekeyStatus{Started: true, Nonce: "r-1", Shares: 3, Threshold: 2, Required: 3}
	r := do(t, h, "PUT", "/v1/sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2}, TokenHeader, "")
	if r.status != 200 || r.body["nonce"] != "r-1" || r.body["t"] != 2.0 || r.body["n"] != 3.0 || r.body["required"] != 3.0 {
		t.Fatalf("rekey init: %d %s", r.status, r.raw)
	}
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/sys/rekey/init", map[string]any{}},
		{"/v1/sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2, "pgp_keys": []string{"x"}}},
		{"/v1/sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2, "require_verification": "perhaps"}},
		{"/v1/sys/rekey/verify", map[string]any{"key": "abc"}},
		{"/v1/sys/rekey/update", map[string]any{"key": "abc"}},
		{"/v1/sys/rekey/update", map[string]any{"nonce": "r-1"}},
	} {
		if r := do(t, h, "PUT", c.path, c.body); r.status != 400 {
			t.Errorf("%s %v: %d %s", c.path, c.body, r.status, r.raw)
		}
	}
	k.rekey = core.RekeyStatus{Complete: true, Nonce: "r-1", Keys: []string{base64.StdEncoding.EncodeToString([]byte{7})}}
	r = do(t, h, "PUT", "/v1/sys/rekey/update", map[string]any{"key": "abc", "nonce": "r-1"})
	if r.status != 200 || r.body["complete"] != true || r.body["keys"].([]any)[0] != "07" || r.body["keys_base64"].([]any)[0] != "Bw==" {
		t.Fatalf("rekey update: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "GET", "/v1/sys/rekey/init", nil); r.status != 200 {
		t.Fatalf("rekey status: %d", r.status)
	}
	if r := do(t, h, "DELETE", "/v1/sys/rekey/init", nil); r.status != 204 {
		t.Fatalf("rekey cancel: %d", r.status)
	}
	if r := do(t, h, "PUT", "/v1/sys/rekey/verify", map[string]any{"key": "new", "nonce": "v-1"}); r.status != 200 || r.body["complete"] != true {
		t.Fatalf("rekey verify: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "PUT", "/v1/sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2, "require_verification": true}); r.status != 200 {
		t.Fatalf("rekey init with verification: %d %s", r.status, r.raw)
	}
	want := []string{"RekeyInit 3 2 false", "RekeyUpdate abc r-1", "RekeyStatus", "RekeyCancel", "RekeyVerify new v-1", "RekeyInit 3 2 true"}
	if got := k.got(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls = %q, want %q", got, want)
	}
	k.err = core.ErrInvalidRequest
	if r := do(t, h, "PUT", "/v1/sys/rekey/update", map[string]any{"key": "abc", "nonce": "wrong"}); r.status != 400 {
		t.Fatalf("refused update: %d %s", r.status, r.raw)
	}
}
