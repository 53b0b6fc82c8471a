package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/plugins/catalog"
)

// modulePath is this repository's module, recognised in a source checkout's go.mod.
const modulePath = "github.com/baton-hq/baton"

// bundledPlugins are the plugins the dev node registers. Each is a real standalone binary
// built from its own main package (./cmd/<name>), so an operator can copy, rename or
// upgrade it in the plugin directory as with any OpenBao plugin.
var bundledPlugins = []string{testPluginName, postgresPluginName}

// devPluginDir is the dev node's plugin directory: the one -dev-plugin-dir names, used in
// place as OpenBao does (a binary put there later can be registered by its SHA-256), or a
// temporary one removed at exit. Errors name the directory the user gave.
func devPluginDir(given string) (dir string, temp bool, err error) {
	if given == "" {
		d, err := os.MkdirTemp("/tmp", "baton-plugins-")
		return d, true, err
	}
	abs, err := filepath.Abs(given)
	if err != nil {
		return "", false, fmt.Errorf("-dev-plugin-dir %s: %w", given, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", false, fmt.Errorf("-dev-plugin-dir %s: no such directory: create it or give another", given)
	case err != nil:
		return "", false, fmt.Errorf("-dev-plugin-dir %s: %w", given, err)
	case !fi.IsDir():
		return "", false, fmt.Errorf("-dev-plugin-dir %s is not a directory", given)
	}
	return abs, false, nil
}

// provideBundled makes sure dir holds each bundled plugin and answers their SHA-256s. A
// binary already in dir is used as it is (an operator's upgrade, or one a test put there);
// else the one installed next to this node binary (a release ships them side by side) is
// copied in; else, run from a source checkout (go run ./cmd/node), it is built there with
// go build. shown is the directory as the user gave it, for errors.
func provideBundled(ctx context.Context, dir, shown string, log hclog.Logger) (map[string]string, error) {
	sums := map[string]string{}
	for _, name := range bundledPlugins {
		dst := filepath.Join(dir, name)
		if !isExecutable(dst) {
			if err := installBundled(ctx, dst, name, log); err != nil {
				return nil, fmt.Errorf("the bundled plugin %s is not in the plugin directory %s and %w", name, shown, err)
			}
		}
		sum, err := catalog.SHA256File(dst)
		if err != nil {
			return nil, fmt.Errorf("plugin directory %s: %w", shown, err)
		}
		sums[name] = sum
	}
	return sums, nil
}

// installBundled puts the bundled plugin name at dst: copied from beside this binary, or
// built from the source checkout the node runs in.
func installBundled(ctx context.Context, dst, name string, log hclog.Logger) error {
	if self, err := os.Executable(); err == nil {
		if beside := filepath.Join(filepath.Dir(self), name); isExecutable(beside) {
			log.Info("installing the bundled plugin from beside the node binary", "plugin", name, "from", beside, "to", dst)
			return copyFile(beside, dst)
		}
	}
	root, ok := sourceRoot()
	if !ok {
		return fmt.Errorf("no %s is installed beside this binary: build it with go build -o %s ./cmd/%s (from Baton's source) or copy it there", name, dst, name)
	}
	log.Info("building the bundled plugin from source", "plugin", name, "to", dst)
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, "go", "build", "-o", dst, "./cmd/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building it from source in %s failed: %w\n%s", root, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// sourceRoot finds Baton's source checkout from the working directory up, when there is
// one and a go command to build with.
func sourceRoot() (string, bool) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", false
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			first := sc.Scan() && strings.TrimSpace(sc.Text()) == "module "+modulePath
			_ = f.Close()
			if first {
				return dir, true
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// isExecutable says whether path is a regular file someone may execute.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// copyFile copies src to dst (0755), through a temporary name so that no half-written
// plugin is ever seen under its name.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// extraPlugins lists the executables of dir other than the bundled plugins: an operator's
// own plugins, to register by SHA-256.
func extraPlugins(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if slices.Contains(bundledPlugins, e.Name()) || !isExecutable(filepath.Join(dir, e.Name())) {
			continue
		}
		names = append(names, e.Name())
	}
	return names, nil
}
