package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/internal/server"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/test/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// builtPlugins builds the bundled plugins (their own main packages) into a new directory and
// answers it with their SHA-256s.
func builtPlugins(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := filepath.Join(testutil.ShortTempDir(t), "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, name := range bundledPlugins {
		b, err := testutil.Build(dir, "./cmd/"+name, name)
		if err != nil {
			t.Fatal(err)
		}
		sums[name] = b.SHA256
	}
	return dir, sums
}

// Bounds of the dev tests' waits.
const (
	devUpTimeout   = 2 * time.Minute  // the dev node answers sys/health 200 (plugin copies, init, setup)
	devCallTimeout = 60 * time.Second // one API call; a connection waits in the backlog during setup
	devStopTimeout = 60 * time.Second // runDev returns after its context ends
)

// lockedBuffer is an io.Writer the dev node prints to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDevNodeHealthyOnlyOnceSetUp is a script racing the dev node: it polls sys/health from
// the moment the node starts and, at the first 200, mounts database/ itself. The first 200
// must come after the dev setup is complete (the bundled plugins in the catalog, database/
// mounted, its connection and role configured), and the node must stay up, print its banner
// and issue the credential it advertises.
func TestDevNodeHealthyOnlyOnceSetUp(t *testing.T) {
	addr, _, err := freeAddr(0)
	if err != nil {
		t.Fatal(err)
	}
	const token = "s.dev-race-token"
	pluginDir, _ := builtPlugins(t)
	f := serverFlags{dev: true, devToken: token, devListen: addr, devNATSPort: 0, logLevel: "warn", devPlugins: pluginDir}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stdout, stderr lockedBuffer
	exited := make(chan int, 1)
	go func() { exited <- runDev(ctx, f, &stdout, &stderr) }()
	ended := false
	t.Cleanup(func() {
		stop()
		if ended {
			return
		}
		select {
		case <-exited:
		case <-time.After(devStopTimeout):
			t.Errorf("the dev node did not stop within %s of its context ending", devStopTimeout)
		}
	})

	cl := &testutil.Client{Addr: "http://" + addr, Token: token, HTTP: &http.Client{Timeout: devCallTimeout,
		Transport: &http.Transport{DisableKeepAlives: true}}}
	var code int
	testutil.Eventually(t, devUpTimeout, "the dev node's sys/health to answer 200, or the node to exit", func() bool {
		select {
		case rc := <-exited:
			ended = true
			t.Fatalf("the dev node exited with %d before answering sys/health 200:\n%s", rc, stderr.String())
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, devCallTimeout)
		defer cancel()
		r, err := cl.Do(cctx, "GET", "sys/health", nil)
		code = r.Status
		return err == nil && r.Status == http.StatusOK
	})

	// The script's next step, at once: mount database/ (it already is, so 400 is the right
	// answer; what matters is that the node does not fall over).
	cctx, cancel := context.WithTimeout(ctx, devCallTimeout)
	defer cancel()
	if r, err := cl.Do(cctx, "POST", "sys/mounts/database", map[string]any{"type": "database"}); err != nil {
		t.Fatalf("POST sys/mounts/database after sys/health %d: %v", code, err)
	} else if r.Status != http.StatusBadRequest || !strings.Contains(r.Errors(), "already") {
		t.Errorf("POST sys/mounts/database right after sys/health 200 answered %d %s, want 400 already mounted (the dev setup mounts it before the node answers)", r.Status, r.Raw)
	}
	// Everything the setup makes was in place when sys/health said 200.
	for _, p := range []string{
		"sys/plugins/catalog/database/" + testPluginName, "sys/plugins/catalog/database/" + postgresPluginName,
		"database/config/dev-test", "database/roles/dev",
	} {
		if r, err := cl.Do(cctx, "GET", p, nil); err != nil || r.Status != http.StatusOK {
			t.Errorf("GET %s right after sys/health 200: %d %v %s", p, r.Status, err, r.Raw)
		}
	}

	testutil.Eventually(t, devUpTimeout, "the dev banner, or the node to exit", func() bool {
		select {
		case rc := <-exited:
			ended = true
			t.Fatalf("the dev node shut itself down (exit %d) after a script's request:\n%s", rc, stderr.String())
		default:
		}
		return strings.Contains(stdout.String(), "Root token:   "+token)
	})
	r, err := cl.Do(cctx, "GET", "database/creds/dev", nil)
	if err != nil || r.Status != http.StatusOK || r.Data()["username"] == nil {
		t.Fatalf("database/creds/dev: %d %v %s", r.Status, err, r.Raw)
	}

	// The banner names the operator's NATS seed file (0600); with it an event is committed,
	// without it the dev node's NATS refuses the connection.
	banner := stdout.String()
	m := regexp.MustCompile(`NATS: +(nats://\S+) \(operator nkey seed: (\S+)\)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("the banner does not name the NATS URL and operator seed:\n%s", banner)
	}
	if fi, err := os.Stat(m[2]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("operator seed file %s: %v, %v", m[2], fi, err)
	}
	if nc, err := nats.Connect(m[1], nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected to the dev node's NATS")
	}
	nc, err := events.Connect(cctx, events.ClientConfig{URL: m[1], NKeySeedFile: m[2]})
	if err != nil {
		t.Fatalf("connecting with the operator seed: %v", err)
	}
	defer nc.Close()
	ev := events.Event{V: events.Version, ID: "dev-reload", Kind: events.KindReload, Target: events.Target{Type: events.TargetPlugin, ID: testPluginName}, Source: "test"}
	if _, err := events.InjectSync(cctx, nc, "baton", ev, events.WithToken(token)); err != nil {
		t.Fatalf("injecting as the operator: %v", err)
	}

	stop()
	select {
	case rc := <-exited:
		ended = true
		if rc != 0 {
			t.Fatalf("the dev node ended with %d, want 0:\n%s", rc, stderr.String())
		}
	case <-time.After(devStopTimeout):
		t.Fatalf("the dev node did not stop within %s of its context ending", devStopTimeout)
	}
}

// fakeAPI answers devSetup's calls from a table of resources: a GET of a path in have answers
// 200 with its data, else 404; a write answers writeStatus[path] (default 204) and, when it
// succeeds or makeOnFail is set, creates the resource. Every write is recorded.
type fakeAPI struct {
	have        map[string]map[string]any
	writeStatus map[string]int
	makeOnFail  bool
	writes      []string
}

func (f *fakeAPI) call(_ context.Context, method, path string, body any) (int, []byte, error) {
	if method == "GET" {
		d, ok := f.have[path]
		if !ok {
			return http.StatusNotFound, []byte(`{"errors":[]}`), nil
		}
		b, _ := json.Marshal(map[string]any{"data": d})
		return http.StatusOK, b, nil
	}
	f.writes = append(f.writes, method+" "+path)
	st, ok := f.writeStatus[path]
	if !ok {
		st = http.StatusNoContent
	}
	if st < 300 || f.makeOnFail {
		d, _ := body.(map[string]any)
		f.have[path] = d
	}
	if st >= 300 {
		return st, []byte(fmt.Sprintf(`{"errors":["path is already in use at %s"]}`, path)), nil
	}
	return st, nil, nil
}

// TestDevSetupKeepsWorkAlreadyDone checks each dev setup step against work already in place:
// a catalog entry, the mount (of the right type), the connection or the role someone made
// first is kept and the setup carries on; a mount of another type is a clear error.
func TestDevSetupKeepsWorkAlreadyDone(t *testing.T) {
	steps := devSteps("s.tok", map[string]string{testPluginName: "aa", postgresPluginName: "bb"}, "/tmp/dev")
	all := make([]string, len(steps))
	for i, st := range steps {
		all[i] = st.method + " " + st.path
	}
	db := map[string]any{"type": "database"}
	tests := []struct {
		name        string
		have        map[string]map[string]any
		writeStatus map[string]int
		makeOnFail  bool
		wantWrites  []string
		wantErr     string
	}{
		{name: "nothing in place", wantWrites: all},
		{name: "everything in place", have: map[string]map[string]any{
			"sys/plugins/catalog/database/" + testPluginName: {}, "sys/plugins/catalog/database/" + postgresPluginName: {},
			"sys/mounts/database": db, "database/config/dev-test": {}, "database/roles/dev": {},
		}},
		{name: "mount in place", have: map[string]map[string]any{"sys/mounts/database": db},
			wantWrites: []string{all[0], all[1], all[3], all[4]}},
		{name: "catalog entry and role in place", have: map[string]map[string]any{
			"sys/plugins/catalog/database/" + testPluginName: {}, "database/roles/dev": {},
		}, wantWrites: []string{all[1], all[2], all[3]}},
		{name: "mount made between the check and the write", writeStatus: map[string]int{"sys/mounts/database": 400},
			makeOnFail: true, wantWrites: all},
		{name: "mount write refused and nothing in place", writeStatus: map[string]int{"sys/mounts/database": 400},
			wantWrites: all[:3], wantErr: "POST sys/mounts/database: 400"},
		{name: "mount of another type", have: map[string]map[string]any{"sys/mounts/database": {"type": "kv"}},
			wantWrites: all[:2], wantErr: `mounted with type "kv"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{have: map[string]map[string]any{}, writeStatus: tt.writeStatus, makeOnFail: tt.makeOnFail}
			for k, v := range tt.have {
				f.have[k] = v
			}
			err := devSetup(context.Background(), f.call, hclog.NewNullLogger(), steps)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("devSetup: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("devSetup: %v, want an error with %q", err, tt.wantErr)
			}
			if fmt.Sprint(f.writes) != fmt.Sprint(tt.wantWrites) && !(len(f.writes) == 0 && len(tt.wantWrites) == 0) {
				t.Fatalf("writes %q, want %q", f.writes, tt.wantWrites)
			}
		})
	}
}

// TestDevSetupTwiceOnARealNode runs the dev setup on a real node whose operator already ran
// every step (the same requests through the same API): the second run keeps it all and
// succeeds, and the node issues the dev credential.
func TestDevSetupTwiceOnARealNode(t *testing.T) {
	dir := testutil.ShortTempDir(t)
	pluginDir, sums := builtPlugins(t)
	s, err := server.New(server.Config{
		Core: core.Config{NodeID: "dev", DataDir: filepath.Join(dir, "data"), RaftBind: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
			Raft: raftstore.FastConfig(), NoNATS: true},
		Listen: "127.0.0.1:0", PluginDir: pluginDir, StartTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), devStopTimeout)
		defer cancel()
		_ = s.Close(ctx)
	})
	ctx := testutil.Context(t, devUpTimeout)
	res, err := s.Node.Init(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	call := handlerAPI(s.API.Handler(), res.RootToken)
	steps := devSteps(res.RootToken, sums, dir)
	for _, st := range steps { // the operator's script, first
		if status, msg, err := call(ctx, st.method, st.path, st.body); err != nil || status >= 300 {
			t.Fatalf("%s %s: %d %v %s", st.method, st.path, status, err, msg)
		}
	}
	if err := devSetup(ctx, call, hclog.NewNullLogger(), steps); err != nil {
		t.Fatalf("dev setup after the operator did every step: %v", err)
	}
	status, msg, err := call(ctx, "GET", "database/creds/dev", nil)
	if err != nil || status != http.StatusOK || !strings.Contains(string(msg), `"username"`) {
		t.Fatalf("database/creds/dev: %d %v %s", status, err, msg)
	}
}
