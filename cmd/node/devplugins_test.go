package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/test/testutil"
)

// TestDevPluginDirErrorsNameTheGivenDir: a -dev-plugin-dir that is missing or a file is
// refused with the path as the user wrote it, never a directory of the node's own.
func TestDevPluginDirErrorsNameTheGivenDir(t *testing.T) {
	base := testutil.ShortTempDir(t)
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ given, want string }{
		{filepath.Join(base, "missing"), "-dev-plugin-dir " + filepath.Join(base, "missing") + ": no such directory"},
		{file, "-dev-plugin-dir " + file + " is not a directory"},
	} {
		if _, _, err := devPluginDir(tt.given); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Fatalf("devPluginDir(%q): %v, want %q", tt.given, err, tt.want)
		}
	}
	dir, temp, err := devPluginDir(base)
	if err != nil || temp || dir != base {
		t.Fatalf("devPluginDir(%q) = %q, %v, %v: want the directory itself, not a temporary one", base, dir, temp, err)
	}
}

// TestProvideBundledUsesTheDirInPlace: bundled plugins already in the directory are used as
// they are (nothing copied over them: an operator's upgrade stays), a plugin put there later
// is listed as the operator's, and a bundled plugin that is missing with nowhere to come from
// is an error naming the directory as given.
func TestProvideBundledUsesTheDirInPlace(t *testing.T) {
	dir, sums := builtPlugins(t)
	// An "upgrade": the test plugin's file replaced by the PostgreSQL plugin's bytes.
	b, err := os.ReadFile(filepath.Join(dir, postgresPluginName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, testPluginName), b, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := provideBundled(context.Background(), dir, "plugins/", hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got[testPluginName] != sums[postgresPluginName] || got[postgresPluginName] != sums[postgresPluginName] {
		t.Fatalf("sums %v: the upgraded file in the directory was not used as it is", got)
	}
	if err := copyFile(filepath.Join(dir, testPluginName), filepath.Join(dir, "my-db-plugin")); err != nil {
		t.Fatal(err)
	}
	if extra, err := extraPlugins(dir); err != nil || !slices.Equal(extra, []string{"my-db-plugin"}) {
		t.Fatalf("extra plugins %v %v, want the one put there", extra, err)
	}
	if sum, _ := catalog.SHA256File(filepath.Join(dir, "my-db-plugin")); sum != got[testPluginName] {
		t.Fatal("copy changed the binary")
	}

	// Nowhere to get a missing bundled plugin from: outside a source checkout, with no
	// plugin beside this (test) binary.
	empty := testutil.ShortTempDir(t)
	t.Chdir(empty)
	_, err = provideBundled(context.Background(), empty, "my-plugins", hclog.NewNullLogger())
	if err == nil || !strings.Contains(err.Error(), "not in the plugin directory my-plugins") || !strings.Contains(err.Error(), "go build -o") {
		t.Fatalf("missing bundled plugin: %v", err)
	}
}
