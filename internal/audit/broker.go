package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// SaltSource gives each device its salt, the same on every node and for the device's life.
// StateSalts keeps them in the replicated state; the unit tests use a map.
type SaltSource interface {
	// Salt returns the salt of the device at path (with its trailing "/").
	Salt(ctx context.Context, path string) ([]byte, error)
}

// Settings are the audit part of a node's config: the declared devices and the two switches
// OpenBao 2.x has. A SIGHUP reload replaces them as a whole.
type Settings struct {
	// Devices are the audit stanzas.
	Devices []Device
	// AllowAPICreation is unsafe_allow_api_audit_creation.
	AllowAPICreation bool
	// AllowPrefix is allow_audit_log_prefixing.
	AllowPrefix bool
}

// Config configures a Broker.
type Config struct {
	// Salts gives each device its salt.
	Salts SaltSource
	// Forbidden are the directories no device may write in: the plugin directory and the
	// data dir.
	Forbidden []string
	// Stdout is where file_path = "stdout" writes; nil means os.Stdout.
	Stdout io.Writer
	// Logger reports devices that fail to write (never an entry's content).
	Logger hclog.Logger
	// Now stamps entries; nil means time.Now.
	Now func() time.Time
}

// Broker holds one node's enabled devices and writes each entry to all of them.
type Broker struct {
	salts     SaltSource
	forbidden []string
	stdout    io.Writer
	log       hclog.Logger
	now       func() time.Time

	mu          sync.RWMutex
	devices     map[string]*device
	allowAPI    bool
	allowPrefix bool
}

// device is one enabled device: what it was declared as and its open log.
type device struct {
	decl Device
	opts fileOptions
	sink *fileSink
}

// NewBroker returns a broker with no device.
func NewBroker(cfg Config) *Broker {
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Broker{salts: cfg.Salts, forbidden: cfg.Forbidden, stdout: cfg.Stdout, log: cfg.Logger, now: cfg.Now, devices: map[string]*device{}}
}

// Apply installs the config's settings: it opens every declared device, then swaps them in
// for the previously declared ones (devices enabled through the API stay). When any declared
// device is refused or cannot be opened, nothing changes and the error says which and why.
// It is what the node calls at start and on SIGHUP.
func (b *Broker) Apply(s Settings) error {
	fresh := map[string]*device{}
	var errs []error
	for _, d := range s.Devices {
		d.Path = NormalizePath(d.Path)
		d.FromConfig = true
		if d.Path == "" {
			errs = append(errs, fmt.Errorf("%w: an audit stanza has no path: write audit \"file\" \"<path>\" { … }", ErrInvalid))
			continue
		}
		if _, dup := fresh[d.Path]; dup {
			errs = append(errs, fmt.Errorf("%w: two audit devices with the same path %s in the config", ErrInvalid, d.Path))
			continue
		}
		dev, err := b.open(d, s.AllowPrefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fresh[d.Path] = dev
	}
	b.mu.Lock()
	if len(errs) == 0 {
		for p, d := range b.devices {
			if !d.decl.FromConfig {
				if _, clash := fresh[p]; clash {
					errs = append(errs, fmt.Errorf("%w: audit device %s in the config was already enabled through the API: disable it first", ErrInvalid, p))
				}
			}
		}
	}
	if len(errs) > 0 {
		b.mu.Unlock()
		for _, d := range fresh {
			_ = d.sink.close()
		}
		return errors.Join(errs...)
	}
	old := b.devices
	b.devices = fresh
	for p, d := range old {
		if !d.decl.FromConfig {
			b.devices[p] = d
		} else {
			_ = d.sink.close()
		}
	}
	b.allowAPI, b.allowPrefix = s.AllowAPICreation, s.AllowPrefix
	b.mu.Unlock()
	return nil
}

func (b *Broker) open(d Device, allowPrefix bool) (*device, error) {
	o, err := parseOptions(d, allowPrefix, b.forbidden)
	if err != nil {
		return nil, err
	}
	sink, err := openSink(o, b.stdout, b.forbidden)
	if err != nil {
		return nil, fmt.Errorf("audit device %s: %w", d.Path, err)
	}
	if d.Options == nil {
		d.Options = map[string]string{}
	}
	d.Options = maps.Clone(d.Options)
	return &device{decl: d, opts: o, sink: sink}, nil
}

// Enable enables a device through the API (sys/audit/:path). It is refused with
// ErrAPICreation unless the config sets unsafe_allow_api_audit_creation, and with ErrInvalid
// for a path in use or a bad declaration; nothing changes then.
func (b *Broker) Enable(d Device) error {
	d.Path = NormalizePath(d.Path)
	d.FromConfig = false
	b.mu.RLock()
	allowAPI, allowPrefix := b.allowAPI, b.allowPrefix
	b.mu.RUnlock()
	if !allowAPI {
		return ErrAPICreation
	}
	if d.Path == "" {
		return fmt.Errorf("%w: the device path is empty", ErrInvalid)
	}
	dev, err := b.open(d, allowPrefix)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, used := b.devices[d.Path]; used {
		_ = dev.sink.close()
		return fmt.Errorf("%w: path already in use at %s", ErrInvalid, d.Path)
	}
	b.devices[d.Path] = dev
	return nil
}

// Disable disables a device enabled through the API; a config-declared one is
// ErrConfigManaged (remove its stanza and reload instead). No device there is no error, as in
// OpenBao.
func (b *Broker) Disable(path string) error {
	path = NormalizePath(path)
	if path == "" {
		return fmt.Errorf("%w: audit device path must be specified", ErrInvalid)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.devices[path]
	if !ok {
		return nil
	}
	if d.decl.FromConfig {
		return ErrConfigManaged
	}
	delete(b.devices, path)
	return d.sink.close()
}

// List returns the enabled devices, by path.
func (b *Broker) List() []Device {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]Device, 0, len(b.devices))
	for _, p := range slices.Sorted(maps.Keys(b.devices)) {
		d := b.devices[p].decl
		d.Options = maps.Clone(d.Options)
		out = append(out, d)
	}
	return out
}

// Enabled reports whether any device is enabled (when none is, nothing is audited).
func (b *Broker) Enabled() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.devices) > 0
}

// Hash hashes input with the salt of the device at path (sys/audit-hash).
func (b *Broker) Hash(ctx context.Context, path, input string) (string, error) {
	path = NormalizePath(path)
	b.mu.RLock()
	_, ok := b.devices[path]
	b.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrNotFound, path)
	}
	salt, err := b.salts.Salt(ctx, path)
	if err != nil {
		return "", fmt.Errorf("audit: salt of %s: %w", path, err)
	}
	return newHasher(salt).hash(input), nil
}

// LogRequest writes in's request entry to every device. With devices enabled and none able to
// write it, it fails with ErrNoDevice: the request must not be served.
func (b *Broker) LogRequest(ctx context.Context, in *Input) error {
	return b.log1(ctx, TypeRequest, in)
}

// LogResponse writes in's response entry to every device; with devices enabled and none able
// to write it, it fails with ErrNoDevice: the reply must not be sent.
func (b *Broker) LogResponse(ctx context.Context, in *Input) error {
	return b.log1(ctx, TypeResponse, in)
}

func (b *Broker) log1(ctx context.Context, typ string, in *Input) error {
	// Held across the writes: a reload (Apply, Disable) closes a device's file only once no
	// entry is being written to it, so a SIGHUP never fails a request in flight.
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.devices) == 0 {
		return nil
	}
	now := b.now()
	wrote := 0
	var errs []error
	for _, d := range b.devices {
		if err := b.write(ctx, d, typ, in, now); err != nil {
			// Never the entry itself: it may hold secrets in clear (log_raw).
			b.log.Error("audit device failed to log "+typ, "path", d.decl.Path, "error", err)
			errs = append(errs, err)
			continue
		}
		wrote++
	}
	if wrote == 0 {
		return fmt.Errorf("%w: %w", ErrNoDevice, errors.Join(errs...))
	}
	return nil
}

func (b *Broker) write(ctx context.Context, d *device, typ string, in *Input, now time.Time) error {
	var h *hasher
	if !d.opts.raw {
		salt, ok := in.salts[d.decl.Path]
		if !ok {
			var err error
			if salt, err = b.salts.Salt(ctx, d.decl.Path); err != nil {
				return fmt.Errorf("audit: salt of %s: %w", d.decl.Path, err)
			}
			if in.salts == nil {
				in.salts = map[string][]byte{}
			}
			in.salts[d.decl.Path] = salt
		}
		h = newHasher(salt)
	}
	line, err := format(typ, in, now, h, d.opts.raw, d.opts.hmacAccessor)
	if err != nil {
		return fmt.Errorf("audit: formatting the %s entry: %w", typ, err)
	}
	buf := make([]byte, 0, len(d.opts.prefix)+len(line)+1)
	buf = append(append(append(buf, d.opts.prefix...), line...), '\n')
	return d.sink.write(buf)
}

// Close closes every device's file.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, d := range b.devices {
		errs = append(errs, d.sink.close())
	}
	b.devices = map[string]*device{}
	return errors.Join(errs...)
}
