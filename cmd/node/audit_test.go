package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/audit"
	"github.com/baton-hq/baton/test/testutil"
)

// fixedSalts is a SaltSource for tests of the reload alone.
type fixedSalts struct{}

func (fixedSalts) Salt(context.Context, string) ([]byte, error) { return []byte("salt"), nil }

// TestSIGHUPReloadsAudit: SIGHUP re-reads the -config files' audit stanzas; a new stanza is
// enabled, a file that does not parse and a device inside the plugin directory leave the
// devices as they were.
func TestSIGHUPReloadsAudit(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "audit.hcl")
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stanza := func(path, file string) string {
		return `audit "file" "` + path + `" {
  options {
    file_path = "` + file + `"
  }
}
`
	}
	b := audit.NewBroker(audit.Config{Salts: fixedSalts{}, Forbidden: []string{plugins}})
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var logs lockedBuffer
	reloadAuditOnSIGHUP(ctx, b, hclog.New(&hclog.LoggerOptions{Output: &logs}), []string{cfg})
	paths := func() []string {
		var out []string
		for _, d := range b.List() {
			out = append(out, d.Path)
		}
		return out
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	write(stanza("one", filepath.Join(dir, "one.log")))
	hup()
	testutil.Eventually(t, 10*time.Second, "one/ enabled", func() bool { p := paths(); return len(p) == 1 && p[0] == "one/" })
	write(stanza("one", filepath.Join(dir, "one.log")) + stanza("two", filepath.Join(dir, "two.log")))
	hup()
	testutil.Eventually(t, 10*time.Second, "two/ enabled", func() bool { return len(paths()) == 2 })

	for i, bad := range []string{
		`audit "file" "three" {`, // does not parse
		stanza("three", filepath.Join(plugins, "evil")),
	} {
		write(bad)
		hup()
		testutil.Eventually(t, 10*time.Second, "the bad reload to be logged", func() bool {
			return strings.Count(logs.String(), "audit devices kept as they were") == i+1
		})
		if p := paths(); len(p) != 2 || p[0] != "one/" || p[1] != "two/" {
			t.Fatalf("a refused reload changed the devices: %v", p)
		}
		if ents, _ := os.ReadDir(plugins); len(ents) != 0 {
			t.Fatalf("something was written in the plugin dir: %v", ents)
		}
	}
	if l := logs.String(); !strings.Contains(l, "plugin") || !strings.Contains(l, "three") {
		t.Errorf("the log does not say why: %s", l)
	}
}
