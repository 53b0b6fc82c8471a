package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// ErrNoBinaries means no directory on this machine holds initdb, pg_ctl and postgres. Tests
// skip on it outside CI (see SkipOrFail).
var ErrNoBinaries = errors.New("pgtest: no PostgreSQL binaries (initdb, pg_ctl, postgres) found in PATH, /usr/local/bin or /usr/lib/postgresql/*/bin")

// binaries is one PostgreSQL installation: the directory holding its programs and its version.
type binaries struct {
	dir   string
	major int
	minor int
}

func (b binaries) path(name string) string { return filepath.Join(b.dir, name) }

var (
	discoverOnce sync.Once
	discovered   binaries
	discoverErr  error
)

// findBinaries returns the newest installation on the machine, looked up once per process
// because asking each candidate its version costs an exec.
func findBinaries() (binaries, error) {
	discoverOnce.Do(func() { discovered, discoverErr = discover(candidateDirs()) })
	return discovered, discoverErr
}

// candidateDirs lists where PostgreSQL's programs usually live: PATH first, then the
// Debian-style versioned directories.
func candidateDirs() []string {
	dirs := filepath.SplitList(os.Getenv("PATH"))
	dirs = append(dirs, "/usr/local/bin")
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	return append(dirs, versioned...)
}

// discover picks, among dirs holding all three programs, the one whose postgres reports the
// highest version. Symlinked directories (/usr/local/bin → /usr/lib/postgresql/15/bin) are
// resolved so initdb finds its sibling postgres where it really is.
func discover(dirs []string) (binaries, error) {
	var best binaries
	seen := map[string]bool{}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		real, ok := installDir(d)
		if !ok || seen[real] {
			continue
		}
		seen[real] = true
		major, minor, err := serverVersion(filepath.Join(real, "postgres"))
		if err != nil {
			continue
		}
		if best.dir == "" || major > best.major || (major == best.major && minor > best.minor) {
			best = binaries{dir: real, major: major, minor: minor}
		}
	}
	if best.dir == "" {
		return binaries{}, ErrNoBinaries
	}
	return best, nil
}

// installDir reports the real directory of dir's postgres when dir holds initdb, pg_ctl and
// postgres, all executable and all in that same real directory.
func installDir(dir string) (string, bool) {
	var real string
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		p, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if err != nil {
			return "", false
		}
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return "", false
		}
		d := filepath.Dir(p)
		if real != "" && d != real {
			return "", false
		}
		real = d
	}
	return real, true
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// serverVersion runs `postgres --version` (allowed as root) and parses "15.18".
func serverVersion(postgres string) (major, minor int, err error) {
	out, err := exec.Command(postgres, "--version").Output()
	if err != nil {
		return 0, 0, fmt.Errorf("pgtest: %s --version: %w", postgres, err)
	}
	m := versionRE.FindStringSubmatch(strings.TrimSpace(string(out)))
	if m == nil {
		return 0, 0, fmt.Errorf("pgtest: unrecognised version %q from %s", out, postgres)
	}
	major, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		minor, _ = strconv.Atoi(m[2])
	}
	return major, minor, nil
}
