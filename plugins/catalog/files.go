package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ResolveCommand finds the binary a catalog command names and returns its real path, which is
// what should be executed. The plugin directory must be set, absolute, an existing directory
// and not itself a symbolic link; the command is relative to it, and its real path (all
// symlinks resolved) must stay inside the directory's real path and be an executable regular
// file. Refusals wrap ErrInvalid and say what to fix.
func ResolveCommand(pluginDir, command string) (string, error) {
	realDir, err := checkPluginDir(pluginDir)
	if err != nil {
		return "", err
	}
	clean, err := cleanCommand(command)
	if err != nil {
		return "", err
	}
	joined := filepath.Join(pluginDir, clean)
	real, err := filepath.EvalSymlinks(joined)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: command %q: %s does not exist: copy the plugin binary into the plugin directory %s", ErrInvalid, command, joined, pluginDir)
		}
		return "", fmt.Errorf("%w: command %q: resolve %s: %w", ErrInvalid, command, joined, err)
	}
	if !within(realDir, real) {
		return "", fmt.Errorf("%w: command %q resolves to %s, outside the plugin directory %s: put the binary itself in the directory instead of a link to it", ErrInvalid, command, real, realDir)
	}
	info, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("%w: command %q: %w", ErrInvalid, command, err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%w: command %q resolves to %s, which is not a regular file (%s): give the plugin binary", ErrInvalid, command, real, info.Mode().Type())
	}
	if info.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%w: command %q: %s is not executable (mode %04o): chmod +x it", ErrInvalid, command, real, info.Mode().Perm())
	}
	return real, nil
}

// checkPluginDir applies the plugin directory's rules and returns its real path.
func checkPluginDir(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("%w: plugin_directory is not set in the config: set it to the absolute path of the directory holding plugin binaries", ErrInvalid)
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%w: plugin_directory %q is not an absolute path: give its absolute path", ErrInvalid, dir)
	}
	info, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%w: plugin_directory %q does not exist: create it or fix the config", ErrInvalid, dir)
	case err != nil:
		return "", fmt.Errorf("%w: plugin_directory %q: %w", ErrInvalid, dir, err)
	case info.Mode()&fs.ModeSymlink != 0:
		return "", fmt.Errorf("%w: plugin_directory %q is a symbolic link: give the directory it points to", ErrInvalid, dir)
	case !info.IsDir():
		return "", fmt.Errorf("%w: plugin_directory %q is not a directory", ErrInvalid, dir)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("%w: plugin_directory %q: %w", ErrInvalid, dir, err)
	}
	return real, nil
}

// within reports whether path lies strictly inside dir; both are real, clean paths.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// SHA256File returns the lower-case hex SHA-256 of a file, reading it as a stream.
func SHA256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("sha256 of plugin binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("sha256 of plugin binary %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ChecksumMismatchError says that a plugin binary is not the one the catalog approved. It names
// both sums so that an operator can tell a swapped binary from a mistyped registration.
type ChecksumMismatchError struct {
	// Path is the binary that was checked.
	Path string
	// Want is the catalog's sum.
	Want string
	// Got is the file's sum.
	Got string
}

// Error names the file, the catalog's sum and the file's sum.
func (e *ChecksumMismatchError) Error() string {
	return fmt.Sprintf("checksum mismatch for plugin binary %s: the catalog has sha256 %s but the file has sha256 %s: register the binary's sum again or restore the approved binary",
		e.Path, e.Want, e.Got)
}

// CheckSHA256 compares a file's SHA-256 with the catalog's; a difference is a
// *ChecksumMismatchError.
func CheckSHA256(path, want string) error {
	w, err := NormalizeSHA256(want)
	if err != nil {
		return err
	}
	got, err := SHA256File(path)
	if err != nil {
		return err
	}
	if got != w {
		return &ChecksumMismatchError{Path: path, Want: w, Got: got}
	}
	return nil
}
