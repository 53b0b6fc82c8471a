// Package pluginbin builds Baton's bundled plugin binaries for process-level tests and
// benchmarks: once per test binary (from TestMain), into a short directory that doubles as a
// plugin directory, with the SHA-256 a catalog entry needs.
package pluginbin

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/test/testutil"
)

// Main packages of the bundled plugins, by binary name.
const (
	TestPlugin       = "baton-test-plugin"
	PostgreSQLPlugin = "baton-postgresql-plugin"
)

// packages maps a binary name to its main package.
var packages = map[string]string{
	TestPlugin:       "./cmd/baton-test-plugin",
	PostgreSQLPlugin: "./cmd/baton-postgresql-plugin",
}

// Binary is one built plugin.
type Binary struct {
	// Name is the file name in Dir, and the catalog command.
	Name string
	// Path is the absolute path of the binary.
	Path string
	// SHA256 is the binary's sum as the catalog wants it.
	SHA256 string
}

// Set is the binaries of one test run, in one plugin directory.
type Set struct {
	// Dir is the plugin directory (short: socket paths are built beside it).
	Dir string

	bins map[string]Binary
	errs map[string]error
}

// Build builds the named binaries (TestPlugin, PostgreSQLPlugin) in parallel into a fresh
// directory under /tmp. A failed build is kept as that binary's error (Get reports it) rather
// than failing the set, so that tests of the other binaries still run.
func Build(names ...string) (*Set, error) {
	dir, err := os.MkdirTemp("/tmp", "btbin-")
	if err != nil {
		return nil, err
	}
	s := &Set{Dir: dir, bins: make(map[string]Binary), errs: make(map[string]error)}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range names {
		pkg, ok := packages[name]
		if !ok {
			s.errs[name] = fmt.Errorf("unknown plugin binary %q", name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := build(dir, name, pkg)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				s.errs[name] = err
				return
			}
			s.bins[name] = b
		}()
	}
	wg.Wait()
	return s, nil
}

func build(dir, name, pkg string) (Binary, error) {
	b, err := testutil.Build(dir, pkg, name)
	if err != nil {
		return Binary{}, err
	}
	return Binary{Name: name, Path: b.Path, SHA256: b.SHA256}, nil
}

// Get returns a built binary, or the reason it could not be built.
func (s *Set) Get(name string) (Binary, error) {
	if b, ok := s.bins[name]; ok {
		return b, nil
	}
	if err, ok := s.errs[name]; ok {
		return Binary{}, err
	}
	return Binary{}, errors.New("plugin binary " + name + " was not built")
}

// Entry returns a database catalog entry for binary b with the given env.
func (b Binary) Entry(name, version string, env ...string) catalog.Entry {
	return catalog.Entry{
		Type:    catalog.TypeDatabase,
		Name:    name,
		Version: version,
		SHA256:  b.SHA256,
		Command: b.Name,
		Args:    []string{},
		Env:     append([]string{}, env...),
	}
}

// Remove deletes the directory.
func (s *Set) Remove() { _ = os.RemoveAll(s.Dir) }
