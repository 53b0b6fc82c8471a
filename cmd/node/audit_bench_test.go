package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/audit"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/internal/server"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/test/testutil"
)

// BenchmarkCredsAudit measures the creds path (database/creds/dev on the bundled test plugin,
// the lease committed through Raft) through the API handler of one in-process node, with no
// audit device and with one file device, in the same run on the same node, alternating
// (three rounds of each, so that load changes and the growing lease table weigh on both):
//
//	go test -run '^$' -bench CredsAudit -benchtime 1000x ./cmd/node/
func BenchmarkCredsAudit(b *testing.B) {
	dir := testutil.ShortTempDir(b)
	pluginDir := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		b.Fatal(err)
	}
	sums, err := provideBundled(testutil.Context(b, 5*time.Minute), pluginDir, pluginDir, hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	s, err := server.New(server.Config{
		Core: core.Config{NodeID: "bench", DataDir: filepath.Join(dir, "data"), RaftBind: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(b)),
			Raft: raftstore.FastConfig(), NoNATS: true},
		Listen: "127.0.0.1:0", PluginDir: pluginDir, StartTimeout: 10 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), devStopTimeout)
		defer cancel()
		_ = s.Close(ctx)
	})
	ctx := testutil.Context(b, 30*time.Minute)
	res, err := s.Node.Init(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	call := handlerAPI(s.API.Handler(), res.RootToken)
	if err := devSetup(ctx, call, hclog.NewNullLogger(), devSteps(res.RootToken, sums, dir)); err != nil {
		b.Fatal(err)
	}
	logFile := filepath.Join(dir, "logs", "audit.log")
	cases := []struct {
		name string
		st   audit.Settings
	}{
		{"none", audit.Settings{}},
		{"file", audit.Settings{Devices: []audit.Device{{Path: "file", Type: audit.TypeFile, Options: map[string]string{"file_path": logFile}}}}},
	}
	for i := range 6 {
		c := cases[i%2]
		if err := s.Audit.Apply(c.st); err != nil {
			b.Fatal(err)
		}
		// One call first: the plugin is running and the device's salt committed.
		if status, msg, err := call(ctx, "GET", "database/creds/dev", nil); err != nil || status != http.StatusOK {
			b.Fatalf("creds: %d %v %s", status, err, msg)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if status, msg, err := call(ctx, "GET", "database/creds/dev", nil); err != nil || status != http.StatusOK {
					b.Fatalf("creds: %d %v %s", status, err, msg)
				}
			}
		})
	}
}
