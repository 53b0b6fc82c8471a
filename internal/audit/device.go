package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// TypeFile is the file device, the only type Baton has.
const TypeFile = "file"

// Stdout is the file_path that writes to the node's standard output.
const Stdout = "stdout"

// DefaultMode is a log file's mode when the device names none.
const DefaultMode os.FileMode = 0o600

// Sentinel errors callers branch on.
var (
	// ErrInvalid is a device declaration or request that is refused: an unknown type or
	// option, a bad value, a path already in use, a file inside a forbidden directory. HTTP
	// 400.
	ErrInvalid = errors.New("invalid audit device")
	// ErrNotFound is a path no device is enabled at. HTTP 400, as OpenBao answers
	// sys/audit-hash for it.
	ErrNotFound = errors.New("no audit device at this path")
	// ErrAPICreation is sys/audit enable without unsafe_allow_api_audit_creation. HTTP 400.
	ErrAPICreation = errors.New("cannot enable audit device via API; use declarative, config-based audit device management instead (or set unsafe_allow_api_audit_creation = true in the node's config)")
	// ErrConfigManaged is a disable through the API of a device the config declares. HTTP 400.
	ErrConfigManaged = errors.New("cannot disable configuration-managed audit device")
	// ErrNoDevice: devices are enabled but none could record an entry, so the request must
	// fail. HTTP 500.
	ErrNoDevice = errors.New("no audit device could record the request")
)

// Device is one audit device as declared (config) or enabled (API), and as sys/audit lists it.
type Device struct {
	// Path is where it is enabled, with a trailing "/".
	Path string
	// Type is "file".
	Type        string
	Description string
	// Options are the device's options as written: file_path, mode, prefix, log_raw,
	// hmac_accessor, format.
	Options map[string]string
	// Local is accepted for OpenBao's shape; devices are per node in Baton anyway.
	Local bool
	// FromConfig: declared in the HCL config, so not disabled through the API.
	FromConfig bool
}

// fileOptions are a file device's parsed options.
type fileOptions struct {
	path         string
	mode         os.FileMode
	prefix       string
	raw          bool
	hmacAccessor bool
}

// NormalizePath gives a device path its OpenBao form: no leading "/", one trailing "/".
func NormalizePath(p string) string {
	p = strings.Trim(strings.TrimSpace(p), "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// parseOptions checks a device's type and options; forbidden are directories the file may not
// lie in.
func parseOptions(d Device, allowPrefix bool, forbidden []string) (fileOptions, error) {
	if d.Type != TypeFile {
		return fileOptions{}, fmt.Errorf("%w: type %q: Baton has only the \"file\" audit device", ErrInvalid, d.Type)
	}
	o := fileOptions{mode: DefaultMode, hmacAccessor: true}
	for k, v := range d.Options {
		var err error
		switch k {
		case "file_path", "path":
			o.path = strings.TrimSpace(v)
		case "mode":
			var m uint64
			m, err = strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(v), "0o"), 8, 32)
			if err == nil && os.FileMode(m)&^os.ModePerm != 0 {
				err = errors.New("not a permission mode")
			}
			o.mode = os.FileMode(m) &^ 0o111 // a log is never executable
		case "prefix":
			if !allowPrefix {
				return o, fmt.Errorf("%w: %s: audit log prefixing is not allowed: set allow_audit_log_prefixing = true in the node's config", ErrInvalid, d.Path)
			}
			o.prefix = v
		case "log_raw":
			o.raw, err = strconv.ParseBool(v)
		case "hmac_accessor":
			o.hmacAccessor, err = strconv.ParseBool(v)
		case "format":
			if v != "json" {
				err = errors.New(`only "json" is supported`)
			}
		case "elide_list_responses", "fallback", "filter":
			err = errors.New("not supported by Baton")
		default:
			err = errors.New("unknown option: the file device takes file_path, mode, prefix, log_raw, hmac_accessor and format")
		}
		if err != nil {
			return o, fmt.Errorf("%w: %s option %s=%q: %w", ErrInvalid, d.Path, k, v, err)
		}
	}
	if o.path == "" {
		return o, fmt.Errorf("%w: %s: file_path is required (a file, or \"stdout\")", ErrInvalid, d.Path)
	}
	if strings.EqualFold(o.path, Stdout) {
		o.path = Stdout
		return o, nil
	}
	if !filepath.IsAbs(o.path) {
		return o, fmt.Errorf("%w: %s: file_path %q must be absolute", ErrInvalid, d.Path, o.path)
	}
	if err := CheckPath(o.path, forbidden); err != nil {
		return o, fmt.Errorf("%w: %s: %w", ErrInvalid, d.Path, err)
	}
	return o, nil
}

// CheckPath refuses a log file path that lies, once every symlink in it and in the forbidden
// directories is resolved, inside one of them (the plugin directory, the data dir). A path
// whose end does not exist yet is resolved as far as it exists.
func CheckPath(path string, forbidden []string) error {
	real, err := resolve(path)
	if err != nil {
		return fmt.Errorf("file_path %q: %w", path, err)
	}
	for _, dir := range forbidden {
		if dir == "" {
			continue
		}
		rd, err := resolve(dir)
		if err != nil {
			return fmt.Errorf("resolving %q: %w", dir, err)
		}
		if real == rd || strings.HasPrefix(real, rd+string(filepath.Separator)) {
			return fmt.Errorf("file_path %q lies inside %s (resolved to %s), where an audit device may never write: choose a file outside the plugin directory and the data dir", path, dir, real)
		}
	}
	return nil
}

// resolve makes path absolute and resolves the symlinks of its longest existing prefix.
func resolve(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	var rest []string
	cur := abs
	for {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs, nil
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}

// fileSink is an open log: a file or standard output. Writes are whole lines under a lock.
type fileSink struct {
	mu   sync.Mutex
	w    io.Writer
	f    *os.File // nil for stdout
	path string
}

// openSink opens (creating it and its directory) the log at o.path, after checking again that
// the path is outside the forbidden directories.
func openSink(o fileOptions, stdout io.Writer, forbidden []string) (*fileSink, error) {
	if o.path == Stdout {
		return &fileSink{w: stdout, path: Stdout}, nil
	}
	if err := os.MkdirAll(filepath.Dir(o.path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: creating the directory of %s: %w", o.path, err)
	}
	if err := CheckPath(o.path, forbidden); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	f, err := os.OpenFile(o.path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, o.mode)
	if err != nil {
		return nil, fmt.Errorf("audit: opening %s: %w", o.path, err)
	}
	// An existing file gets the mode too; a device node (/dev/null, /dev/full) keeps its own.
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && o.mode != 0 {
		if err := f.Chmod(o.mode); err != nil {
			f.Close()
			return nil, fmt.Errorf("audit: setting the mode of %s: %w", o.path, err)
		}
	}
	return &fileSink{w: f, f: f, path: o.path}, nil
}

// write writes one line.
func (s *fileSink) write(line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.w.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("audit: writing to %s: %w", s.path, err)
	}
	return nil
}

func (s *fileSink) close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
