package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile creates a file with exactly the given mode (umask does not apply) and returns its
// path.
func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// realTempDir returns a fresh temporary directory with every symlink in its path resolved.
func realTempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestResolveCommand(t *testing.T) {
	root := realTempDir(t)
	dir := filepath.Join(root, "plugins")
	outside := filepath.Join(root, "outside")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	plugin := writeFile(t, filepath.Join(dir, "pg"), "#!/bin/sh\n", 0o755)
	nested := writeFile(t, filepath.Join(dir, "sub", "nested"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(dir, "data"), "not executable", 0o644)
	evil := writeFile(t, filepath.Join(outside, "evil"), "#!/bin/sh\n", 0o755)
	symlink(t, evil, filepath.Join(dir, "escape"))
	symlink(t, "../outside/evil", filepath.Join(dir, "escape-relative"))
	symlink(t, outside, filepath.Join(dir, "outdir"))
	symlink(t, "pg", filepath.Join(dir, "alias"))
	symlink(t, filepath.Join(dir, "missing"), filepath.Join(dir, "dangling"))
	symlink(t, dir, filepath.Join(root, "dirlink"))
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A plugin directory whose parent is a symlink is fine: only the directory itself may not be.
	parentLink := filepath.Join(realTempDir(t), "parentlink")
	symlink(t, root, parentLink)
	viaParent := filepath.Join(parentLink, "plugins")

	for _, tc := range []struct {
		name, dir, command string
		want               string // real path on success
		wantErr            string
	}{
		{"plain file", dir, "pg", plugin, ""},
		{"file in a subdirectory", dir, "sub/nested", nested, ""},
		{"dot slash", dir, "./pg", plugin, ""},
		{"symlink inside the directory", dir, "alias", plugin, ""},
		{"plugin dir reached through a symlinked parent", viaParent, "pg", plugin, ""},
		{"directory unset", "", "pg", "", "plugin_directory is not set in the config"},
		{"relative directory", "plugins", "pg", "", `plugin_directory "plugins" is not an absolute path`},
		{"missing directory", filepath.Join(root, "nope"), "pg", "", "does not exist"},
		{"directory is a symlink", filepath.Join(root, "dirlink"), "pg", "", "is a symbolic link"},
		{"directory is a file", plugin, "pg", "", "is not a directory"},
		{"absolute command", dir, plugin, "", "is an absolute path"},
		{"dotdot command", dir, "../outside/evil", "", "holds a '..' element"},
		{"dotdot in the middle", dir, "sub/../../outside/evil", "", "holds a '..' element"},
		{"empty command", dir, "", "", "command is empty"},
		{"missing binary", dir, "nothere", "", "does not exist: copy the plugin binary"},
		{"dangling symlink", dir, "dangling", "", "does not exist"},
		{"file symlink escaping (absolute)", dir, "escape", "", "outside the plugin directory"},
		{"file symlink escaping (relative)", dir, "escape-relative", "", "outside the plugin directory"},
		{"directory symlink escaping", dir, "outdir/evil", "", "outside the plugin directory"},
		{"a directory", dir, "adir", "", "not a regular file"},
		{"not executable", dir, "data", "", "is not executable (mode 0644): chmod +x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveCommand(tc.dir, tc.command)
			checkRefusal(t, "ResolveCommand", err, tc.wantErr)
			if got != tc.want {
				t.Errorf("ResolveCommand(%q, %q) = %q, want %q", tc.dir, tc.command, got, tc.want)
			}
		})
	}
}

func TestSHA256(t *testing.T) {
	dir := realTempDir(t)
	content := strings.Repeat("baton plugin ", 100_000) // larger than one read buffer
	path := writeFile(t, filepath.Join(dir, "bin"), content, 0o755)
	sum := sha256.Sum256([]byte(content))
	want := hex.EncodeToString(sum[:])

	got, err := SHA256File(path)
	if err != nil || got != want {
		t.Fatalf("SHA256File = %q, %v; want %q", got, err, want)
	}
	if err := CheckSHA256(path, strings.ToUpper(want)); err != nil {
		t.Errorf("CheckSHA256(upper-case sum) = %v", err)
	}

	err = CheckSHA256(path, sumA)
	var mismatch *ChecksumMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("CheckSHA256(wrong sum) = %v, want a *ChecksumMismatchError", err)
	}
	if mismatch.Path != path || mismatch.Want != sumA || mismatch.Got != want {
		t.Errorf("mismatch = %+v", mismatch)
	}
	if msg := err.Error(); !strings.Contains(msg, sumA) || !strings.Contains(msg, want) {
		t.Errorf("the message does not name both sums: %s", msg)
	}

	if err := CheckSHA256(path, "abc"); !errors.Is(err, ErrInvalid) {
		t.Errorf("CheckSHA256(malformed sum) = %v, want ErrInvalid", err)
	}
	if _, err := SHA256File(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SHA256File(missing) = %v", err)
	}
}

func TestPermissionPolicy(t *testing.T) {
	euid := os.Geteuid()
	other := euid + 1
	mode := func(m os.FileMode) *os.FileMode { return &m }
	dir := realTempDir(t)

	for _, tc := range []struct {
		name    string
		mode    os.FileMode
		policy  PermissionPolicy
		wantErr string
	}{
		{"disabled ignores everything", 0o777, PermissionPolicy{Enabled: false, UID: &other}, ""},
		{"owner and safe mode", 0o755, PermissionPolicy{Enabled: true}, ""},
		{"read-only", 0o500, PermissionPolicy{Enabled: true}, ""},
		{"group writable", 0o775, PermissionPolicy{Enabled: true}, "writable by group or others: chmod go-w"},
		{"others writable", 0o757, PermissionPolicy{Enabled: true}, "mode 0757"},
		{"wrong owner", 0o755, PermissionPolicy{Enabled: true, UID: &other}, "not uid"},
		{"explicit owner", 0o755, PermissionPolicy{Enabled: true, UID: &euid}, ""},
		{"exact mode matches", 0o700, PermissionPolicy{Enabled: true, Mode: mode(0o700)}, ""},
		{"exact mode differs", 0o755, PermissionPolicy{Enabled: true, Mode: mode(0o700)}, "not the required 0700"},
		{"exact mode may allow group write", 0o775, PermissionPolicy{Enabled: true, Mode: mode(0o775)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")), "x", tc.mode)
			checkRefusal(t, "Check", tc.policy.Check(path), tc.wantErr)
		})
	}
}

func TestPermissionCheckFromEnv(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    bool
		wantErr bool
	}{
		{"", false, false},
		{"1", true, false},
		{"true", true, false},
		{"0", false, false},
		{"false", false, false},
		{"yes", false, true},
	} {
		t.Setenv(EnvPermissionsCheck, tc.value)
		got, err := PermissionCheckFromEnv()
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s=%q: %v, %v", EnvPermissionsCheck, tc.value, got, err)
		}
		p, err := NewPolicy("/x", PermissionPolicy{})
		if (err != nil) != tc.wantErr || p.Permissions.Enabled != tc.want {
			t.Errorf("NewPolicy with %s=%q = %+v, %v", EnvPermissionsCheck, tc.value, p, err)
		}
	}
	t.Setenv(EnvPermissionsCheck, "0")
	if p, _ := NewPolicy("/x", PermissionPolicy{Enabled: true}); !p.Permissions.Enabled {
		t.Errorf("the environment turned off a check the config asked for")
	}
}

func TestPolicyValidate(t *testing.T) {
	dir := realTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	content := "#!/bin/sh\nexit 0\n"
	sum := sha256.Sum256([]byte(content))
	good := hex.EncodeToString(sum[:])
	writeFile(t, filepath.Join(dir, "pg"), content, 0o755)
	writeFile(t, filepath.Join(dir, "loose"), content, 0o777)
	other := os.Geteuid() + 1
	base := Entry{Type: TypeDatabase, Name: "pg", Version: "v1.0", SHA256: strings.ToUpper(good), Command: "pg"}

	for _, tc := range []struct {
		name    string
		policy  Policy
		mutate  func(*Entry)
		wantErr string
	}{
		{"valid", Policy{Dir: dir}, func(*Entry) {}, ""},
		{"static rule first", Policy{Dir: dir}, func(e *Entry) { e.Name = "" }, "name is empty"},
		{"no directory", Policy{}, func(*Entry) {}, "plugin_directory is not set in the config"},
		{"wrong sum names both", Policy{Dir: dir}, func(e *Entry) { e.SHA256 = sumB }, sumB + " but the file has sha256 " + good},
		{"loose mode ignored when the check is off", Policy{Dir: dir}, func(e *Entry) { e.Command = "loose" }, ""},
		{"loose mode refused when the check is on", Policy{Dir: dir, Permissions: PermissionPolicy{Enabled: true}},
			func(e *Entry) { e.Command = "loose" }, "writable by group or others"},
		{"directory owner checked", Policy{Dir: dir, Permissions: PermissionPolicy{Enabled: true, UID: &other}},
			func(*Entry) {}, dir + " is owned by uid"},
		{"builtin skips the filesystem", Policy{}, func(e *Entry) { e.Builtin = true; e.Command = "nowhere" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			tc.mutate(&e)
			got, err := tc.policy.Validate(e)
			checkRefusal(t, "Validate", err, tc.wantErr)
			if err == nil && (got.SHA256 != good && !got.Builtin || got.Version != "v1.0.0") {
				t.Errorf("Validate did not return the canonical entry: %v %s", got, got.SHA256)
			}
		})
	}

	var mismatch *ChecksumMismatchError
	if _, err := (Policy{Dir: dir}).Resolve(Entry{Name: "pg", Command: "pg", SHA256: sumB}); !errors.As(err, &mismatch) {
		t.Errorf("Resolve with a wrong sum = %v, want a *ChecksumMismatchError", err)
	}
}
