package main

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/audit"
	"github.com/baton-hq/baton/test/testutil"
)

// BenchmarkCredsAudit measures the creds path (database/creds/dev on the bundled test plugin,
// the lease committed through Raft) through the API handler of one in-process node, with no
// audit device and with one file device, in the same run on the same node, alternating
// (three rounds of each, so that load changes and the growing lease table weigh on both):
//
//	go test -run '^$' -bench CredsAudit -benchtime 1000x ./cmd/node/
func BenchmarkCredsAudit(b *testing.B) {
	s, dir, _, call := benchNode(b)
	ctx := testutil.Context(b, 30*time.Minute)
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
