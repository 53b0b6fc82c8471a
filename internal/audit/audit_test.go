package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// mapSalts is a SaltSource for unit tests: a fixed salt per path.
type mapSalts struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *mapSalts) Salt(_ context.Context, path string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	if _, ok := s.m[path]; !ok {
		s.m[path] = []byte("salt-of-" + path)
	}
	return s.m[path], nil
}

const (
	secretToken    = "s.SECRETclienttoken000000"
	secretAccessor = "ACCESSOR-secret-0000"
	secretPassword = "A1a-SECRET-password-value"
)

func newBroker(t *testing.T, forbidden ...string) *Broker {
	t.Helper()
	b := NewBroker(Config{Salts: &mapSalts{}, Forbidden: forbidden, Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func fileDevice(path, file string, opts ...string) Device {
	o := map[string]string{"file_path": file}
	for i := 0; i+1 < len(opts); i += 2 {
		o[opts[i]] = opts[i+1]
	}
	return Device{Path: path, Type: TypeFile, Options: o}
}

// input is a creds-like exchange: a token, a body with a password and a token, a reply with a
// password and a lease.
func input() *Input {
	return &Input{
		Auth: &Auth{ClientToken: secretToken, Accessor: secretAccessor, DisplayName: "token-app", Policies: []string{"default", "app"}, TokenPolicies: []string{"default", "app"}, Metadata: map[string]string{"team": "payments"}},
		Request: Request{ID: "req-1", Operation: "update", Path: "database/config/pg", ClientToken: secretToken, ClientTokenAccessor: secretAccessor, RemoteAddr: "127.0.0.1", RemotePort: 5555,
			Data: map[string]any{"password": secretPassword, "nested": map[string]any{"token": secretToken, "list": []any{secretPassword}}, "ttl": json.Number("3600"), "verify": true, "count": float64(3)}},
		Response: &Response{Data: map[string]any{"username": "v-app-1", "password": secretPassword, "when": "2026-01-02T03:04:05Z"}, Secret: &Secret{LeaseID: "database/creds/ro/abc"}},
	}
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseLines(t, b, "")
}

func parseLines(t *testing.T, b []byte, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, prefix) {
			t.Fatalf("line %q lacks prefix %q", l, prefix)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(l, prefix)), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func get(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func TestEntryShapeAndHashing(t *testing.T) {
	dir := t.TempDir()
	b := newBroker(t)
	log := filepath.Join(dir, "audit.log")
	if err := b.Apply(Settings{Devices: []Device{fileDevice("file", log)}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := input()
	if err := b.LogRequest(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := b.LogResponse(ctx, in); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(log)
	for _, secret := range []string{secretToken, secretAccessor, secretPassword, "payments-not"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("the log holds %q in clear:\n%s", secret, raw)
		}
	}
	lines := readLines(t, log)
	if len(lines) != 2 {
		t.Fatalf("want a request and a response entry, got %d", len(lines))
	}
	hash := func(s string) string {
		h, err := b.Hash(ctx, "file", s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	req, resp := lines[0], lines[1]
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"request type", req["type"], "request"},
		{"response type", resp["type"], "response"},
		{"time", req["time"], "2026-01-02T03:04:05Z"},
		{"auth.client_token", get(req, "auth", "client_token"), hash(secretToken)},
		{"auth.accessor", get(req, "auth", "accessor"), hash(secretAccessor)},
		{"auth.display_name", get(req, "auth", "display_name"), "token-app"},
		{"auth.metadata kept", get(req, "auth", "metadata", "team"), "payments"},
		{"request.id", get(req, "request", "id"), "req-1"},
		{"request.operation", get(req, "request", "operation"), "update"},
		{"request.path", get(req, "request", "path"), "database/config/pg"},
		{"request.client_token", get(req, "request", "client_token"), hash(secretToken)},
		{"request.client_token_accessor", get(req, "request", "client_token_accessor"), hash(secretAccessor)},
		{"request.remote_address", get(req, "request", "remote_address"), "127.0.0.1"},
		{"request.data.password", get(req, "request", "data", "password"), hash(secretPassword)},
		{"request.data.nested.token", get(req, "request", "data", "nested", "token"), hash(secretToken)},
		{"request.data json.Number hashed as OpenBao", get(req, "request", "data", "ttl"), hash("3600")},
		{"request.data bool kept", get(req, "request", "data", "verify"), true},
		{"request.data number kept", get(req, "request", "data", "count"), float64(3)},
		{"response.data.password", get(resp, "response", "data", "password"), hash(secretPassword)},
		{"response.data.username", get(resp, "response", "data", "username"), hash("v-app-1")},
		{"response.data timestamp kept", get(resp, "response", "data", "when"), "2026-01-02T03:04:05Z"},
		{"response.secret.lease_id", get(resp, "response", "secret", "lease_id"), "database/creds/ro/abc"},
		{"request entry has no response", req["response"], nil},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if l, _ := get(req, "request", "data", "nested", "list").([]any); len(l) != 1 || l[0] != hash(secretPassword) {
		t.Errorf("list element not hashed: %v", l)
	}
	if !strings.HasPrefix(hash("x"), "hmac-sha256:") || len(hash("x")) != len("hmac-sha256:")+64 {
		t.Errorf("hash shape: %q", hash("x"))
	}
	// The caller's input is left as it was (the handler's data is not touched).
	if in.Request.Data["password"] != secretPassword || in.Auth.ClientToken != secretToken {
		t.Error("formatting changed the input")
	}
}

func TestOptions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		opts  []string
		check func(t *testing.T, raw []byte, lines []map[string]any, b *Broker)
	}{
		{"log_raw writes in clear", []string{"log_raw", "true"}, func(t *testing.T, raw []byte, lines []map[string]any, _ *Broker) {
			if get(lines[0], "request", "data", "password") != secretPassword || get(lines[0], "auth", "client_token") != secretToken {
				t.Errorf("log_raw hashed: %s", raw)
			}
		}},
		{"hmac_accessor=false keeps accessors", []string{"hmac_accessor", "false"}, func(t *testing.T, raw []byte, lines []map[string]any, b *Broker) {
			if get(lines[0], "auth", "accessor") != secretAccessor || get(lines[0], "request", "client_token_accessor") != secretAccessor {
				t.Errorf("accessor hashed: %s", raw)
			}
			if bytes.Contains(raw, []byte(secretToken)) || bytes.Contains(raw, []byte(secretPassword)) {
				t.Errorf("token or password in clear: %s", raw)
			}
		}},
		{"prefix starts every line", []string{"prefix", "BATON-AUDIT "}, func(t *testing.T, raw []byte, _ []map[string]any, _ *Broker) {
			if got := parseLines(t, raw, "BATON-AUDIT "); len(got) != 2 {
				t.Errorf("got %d prefixed lines", len(got))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t)
			log := filepath.Join(t.TempDir(), "a.log")
			if err := b.Apply(Settings{Devices: []Device{fileDevice("f", log, tc.opts...)}, AllowPrefix: true}); err != nil {
				t.Fatal(err)
			}
			if err := b.LogRequest(ctx, input()); err != nil {
				t.Fatal(err)
			}
			if err := b.LogResponse(ctx, input()); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(log)
			prefix := ""
			if tc.opts[0] == "prefix" {
				prefix = tc.opts[1]
			}
			tc.check(t, raw, parseLines(t, raw, prefix), b)
		})
	}
}

func TestModeAndStdout(t *testing.T) {
	dir := t.TempDir()
	b := newBroker(t)
	var out bytes.Buffer
	b.stdout = &out
	def, custom := filepath.Join(dir, "def.log"), filepath.Join(dir, "sub", "custom.log")
	if err := b.Apply(Settings{Devices: []Device{fileDevice("def", def), fileDevice("custom", custom, "mode", "0640"), fileDevice("out", "STDOUT")}}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{def: 0o600, custom: 0o640} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	if err := b.LogRequest(context.Background(), input()); err != nil {
		t.Fatal(err)
	}
	if lines := parseLines(t, out.Bytes(), ""); len(lines) != 1 || lines[0]["type"] != "request" {
		t.Errorf("stdout got %q", out.String())
	}
	if bytes.Contains(out.Bytes(), []byte(secretPassword)) {
		t.Error("stdout holds the password")
	}
}

func TestForbiddenPaths(t *testing.T) {
	root := t.TempDir()
	plugins, data, outside := filepath.Join(root, "plugins"), filepath.Join(root, "data"), filepath.Join(root, "logs")
	for _, d := range []string{plugins, data, outside} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink outside that points into the plugin directory, and one to the data dir's parent.
	link := filepath.Join(outside, "innocent")
	if err := os.Symlink(plugins, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(outside, "up")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file string
		refused    bool
	}{
		{"plugin dir", filepath.Join(plugins, "evil"), true},
		{"plugin dir itself", plugins, true},
		{"data dir, deep and not yet there", filepath.Join(data, "raft", "x", "audit.log"), true},
		{"through a symlinked directory", filepath.Join(link, "evil"), true},
		{"through a symlink to a parent", filepath.Join(outside, "up", "data", "audit.log"), true},
		{"dot-dot back into the plugin dir", filepath.Join(outside, "..", "plugins", "evil"), true},
		{"outside", filepath.Join(outside, "audit.log"), false},
		{"relative path", "audit.log", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t, plugins, data)
			if err := b.Apply(Settings{AllowAPICreation: true}); err != nil {
				t.Fatal(err)
			}
			err := b.Apply(Settings{Devices: []Device{fileDevice("f", tc.file)}, AllowAPICreation: true})
			if tc.refused != (err != nil) {
				t.Fatalf("refused=%v, err=%v", tc.refused, err)
			}
			if !tc.refused {
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("want ErrInvalid, got %v", err)
			}
			if b.Enabled() {
				t.Error("a device is enabled after a refusal")
			}
			// The API door is refused the same way.
			if err := b.Enable(fileDevice("g", tc.file)); !errors.Is(err, ErrInvalid) {
				t.Errorf("Enable: want ErrInvalid, got %v", err)
			}
			if b.Enabled() {
				t.Error("a device is enabled after an API refusal")
			}
			if ents, _ := os.ReadDir(plugins); len(ents) != 0 {
				t.Errorf("something was written in the plugin dir: %v", ents)
			}
		})
	}
}

func TestAPIDoors(t *testing.T) {
	dir := t.TempDir()
	b := newBroker(t)
	if err := b.Apply(Settings{Devices: []Device{fileDevice("cfg", filepath.Join(dir, "cfg.log"))}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Enable(fileDevice("api", filepath.Join(dir, "api.log"))); !errors.Is(err, ErrAPICreation) {
		t.Fatalf("Enable without the unsafe flag: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "api.log")); !os.IsNotExist(err) {
		t.Error("a refused Enable created its file")
	}
	if err := b.Disable("cfg"); !errors.Is(err, ErrConfigManaged) {
		t.Fatalf("Disable of a config device: %v", err)
	}
	if len(b.List()) != 1 {
		t.Fatalf("list after refusals: %v", b.List())
	}
	// With the flag: enable, a duplicate is refused, disable works, a prefix needs its flag.
	if err := b.Apply(Settings{Devices: []Device{fileDevice("cfg", filepath.Join(dir, "cfg.log"))}, AllowAPICreation: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Enable(fileDevice("api", filepath.Join(dir, "api.log"), "prefix", "x")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("prefix without allow_audit_log_prefixing: %v", err)
	}
	if err := b.Enable(fileDevice("api/", filepath.Join(dir, "api.log"))); err != nil {
		t.Fatal(err)
	}
	if err := b.Enable(fileDevice("cfg", filepath.Join(dir, "other.log"))); !errors.Is(err, ErrInvalid) {
		t.Fatalf("enable over a used path: %v", err)
	}
	if l := b.List(); len(l) != 2 || l[0].Path != "api/" || l[1].Path != "cfg/" || !l[1].FromConfig || l[0].FromConfig {
		t.Fatalf("list: %+v", l)
	}
	// A reload keeps the API device and swaps the config ones.
	if err := b.Apply(Settings{Devices: []Device{fileDevice("cfg2", filepath.Join(dir, "cfg2.log"))}, AllowAPICreation: true}); err != nil {
		t.Fatal(err)
	}
	if l := b.List(); len(l) != 2 || l[0].Path != "api/" || l[1].Path != "cfg2/" {
		t.Fatalf("list after reload: %+v", l)
	}
	if err := b.Disable("api"); err != nil {
		t.Fatal(err)
	}
	if err := b.Disable("api"); err != nil {
		t.Fatalf("disabling a missing device: %v", err)
	}
	// A bad reload changes nothing.
	if err := b.Apply(Settings{Devices: []Device{fileDevice("new", filepath.Join(dir, "new.log")), {Path: "bad", Type: "socket"}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad reload: %v", err)
	}
	if l := b.List(); len(l) != 1 || l[0].Path != "cfg2/" {
		t.Fatalf("list after a bad reload: %+v", l)
	}
}

// TestNoDeviceCanWrite: OpenBao's rule. /dev/full fails every write, even for root.
func TestNoDeviceCanWrite(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	ctx := context.Background()
	b := newBroker(t)
	if err := b.LogRequest(ctx, input()); err != nil {
		t.Fatalf("no device: nothing to audit, got %v", err)
	}
	if err := b.Apply(Settings{Devices: []Device{fileDevice("full", "/dev/full")}}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat("/dev/full"); fi.Mode().Perm() != 0o666 {
		t.Errorf("/dev/full's mode was changed to %v", fi.Mode().Perm())
	}
	if err := b.LogRequest(ctx, input()); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("only device failing: want ErrNoDevice, got %v", err)
	}
	if err := b.LogResponse(ctx, input()); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("response: want ErrNoDevice, got %v", err)
	}
	if err := b.LogRequest(ctx, input()); err != nil && strings.Contains(err.Error(), secretPassword) {
		t.Fatal("the error holds the password")
	}
	good := filepath.Join(t.TempDir(), "ok.log")
	if err := b.Apply(Settings{Devices: []Device{fileDevice("full", "/dev/full"), fileDevice("ok", good)}}); err != nil {
		t.Fatal(err)
	}
	if err := b.LogRequest(ctx, input()); err != nil {
		t.Fatalf("one device writing is enough: %v", err)
	}
	if len(readLines(t, good)) != 1 {
		t.Fatal("the good device did not record")
	}
}

// TestReloadUnderLoad: requests logged while SIGHUP reloads reopen the files never fail, and
// every entry lands in the file.
func TestReloadUnderLoad(t *testing.T) {
	log := filepath.Join(t.TempDir(), "a.log")
	b := newBroker(t)
	st := Settings{Devices: []Device{fileDevice("f", log)}}
	if err := b.Apply(st); err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := b.LogRequest(context.Background(), input()); err != nil {
					errs <- err
				}
			}
		}()
	}
	for range 20 {
		if err := b.Apply(st); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a request failed during a reload: %v", err)
	}
	if n := len(readLines(t, log)); n != writers*each {
		t.Fatalf("%d entries, want %d", n, writers*each)
	}
}
