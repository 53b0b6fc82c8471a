package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// Audit is the audit part of a configuration, as OpenBao 2.x declares it:
//
//	unsafe_allow_api_audit_creation = false
//	allow_audit_log_prefixing       = false
//	audit "file" "to-file" {
//	  description = "…"
//	  options {
//	    file_path     = "/var/log/baton/audit.log"
//	    mode          = "0600"
//	    log_raw       = false
//	    hmac_accessor = true
//	    prefix        = ""
//	  }
//	}
//
// Whether a file_path lies inside the plugin directory or the data dir is checked when the
// node enables the devices (internal/audit), with every symlink resolved, at start and on
// SIGHUP: a node whose config points a device there does not start.
type Audit struct {
	// Devices are the audit stanzas, in file order.
	Devices []AuditDevice
	// UnsafeAllowAPIAuditCreation lets PUT sys/audit/:path enable devices (OpenBao 2.3 turned
	// it off after CVE-2025-6000 / CVE-2025-54997).
	UnsafeAllowAPIAuditCreation bool
	// AllowAuditLogPrefixing lets a device set the prefix option.
	AllowAuditLogPrefixing bool
}

// AuditDevice is one audit stanza.
type AuditDevice struct {
	// Type and Path are the stanza's labels: audit "<type>" "<path>".
	Type, Path  string
	Description string
	// Local is accepted as OpenBao writes it.
	Local bool
	// Options are the options block's keys, every value as a string (true → "true",
	// 0600 → "600", read as octal by the device).
	Options map[string]string
	// File and Line say where the stanza is written.
	File string
	Line int
}

type rawAudit struct {
	Type        string         `hcl:"type,label"`
	Path        string         `hcl:"path,label"`
	Description *hcl.Attribute `hcl:"description,optional"`
	Local       *hcl.Attribute `hcl:"local,optional"`
	Options     []rawAuditOpts `hcl:"options,block"`
	DefRange    hcl.Range      `hcl:",def_range"`
	Remain      hcl.Body       `hcl:",remain"`
}

type rawAuditOpts struct {
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
}

// rawAuditFile is the part of a file LoadAudit reads; everything else is left alone.
type rawAuditFile struct {
	UnsafeAllowAPIAuditCreation *hcl.Attribute `hcl:"unsafe_allow_api_audit_creation,optional"`
	AllowAuditLogPrefixing      *hcl.Attribute `hcl:"allow_audit_log_prefixing,optional"`
	Audits                      []rawAudit     `hcl:"audit,block"`
	Remain                      hcl.Body       `hcl:",remain"`
}

func (d *decoder) audit(unsafe, prefixing *hcl.Attribute, raws []rawAudit) {
	a := &d.cfg.Audit
	d.boolean("unsafe_allow_api_audit_creation", unsafe, &a.UnsafeAllowAPIAuditCreation)
	if a.UnsafeAllowAPIAuditCreation {
		d.warn(unsafe.Range, hclog.Warn, "unsafe_allow_api_audit_creation", "PUT sys/audit may enable audit devices: a privileged caller can then make the node write files (OpenBao 2.3 turned this off after CVE-2025-6000)")
	}
	d.boolean("allow_audit_log_prefixing", prefixing, &a.AllowAuditLogPrefixing)
	seen := map[string]int{}
	for i := range raws {
		r := &raws[i]
		d.unknown(r.Remain, "audit.", r, nil)
		dev := AuditDevice{Type: r.Type, Path: strings.Trim(r.Path, "/"), File: r.DefRange.Filename, Line: r.DefRange.Start.Line, Options: map[string]string{}}
		field := fmt.Sprintf("audit %q %q", r.Type, r.Path)
		if dev.Type != "file" {
			d.fail(r.DefRange, field, fmt.Sprintf("Baton has only the file audit device: write audit \"file\" %q { options { file_path = \"…\" } }", r.Path))
			continue
		}
		if dev.Path == "" {
			d.fail(r.DefRange, field, `has no path: write audit "file" "<path>" { … }`)
			continue
		}
		if prev, dup := seen[dev.Path]; dup {
			d.fail(r.DefRange, field, fmt.Sprintf("two audit devices with the same path %s/ (the other is at line %d)", dev.Path, prev))
			continue
		}
		seen[dev.Path] = dev.Line
		d.str(field+".description", r.Description, &dev.Description)
		d.boolean(field+".local", r.Local, &dev.Local)
		if len(r.Options) > 1 {
			d.fail(r.Options[1].DefRange, field+".options", "only one options block is allowed")
			continue
		}
		if len(r.Options) == 1 {
			attrs, diags := r.Options[0].Body.JustAttributes()
			if diags.HasErrors() {
				d.fail(r.Options[0].DefRange, field+".options", "must hold only key = value lines: "+diags.Error())
				continue
			}
			for name, at := range attrs {
				v, ok := d.value(field+".options."+name, at)
				if !ok {
					continue
				}
				switch v.Type() {
				case cty.String:
					dev.Options[name] = v.AsString()
				case cty.Bool:
					dev.Options[name] = fmt.Sprint(v.True())
				case cty.Number:
					dev.Options[name] = v.AsBigFloat().Text('f', -1)
				default:
					d.fail(at.Range, field+".options."+name, fmt.Sprintf("must be a string, a number or true/false, not %s", v.Type().FriendlyName()))
				}
			}
		}
		if strings.TrimSpace(dev.Options["file_path"]) == "" {
			d.fail(r.DefRange, field, `needs options { file_path = "/path/to/audit.log" } (or file_path = "stdout")`)
			continue
		}
		if fp := dev.Options["file_path"]; !strings.EqualFold(fp, "stdout") && !filepath.IsAbs(fp) {
			d.fail(r.DefRange, field+".options.file_path", fmt.Sprintf("%q must be an absolute path (or \"stdout\")", fp))
			continue
		}
		a.Devices = append(a.Devices, dev)
	}
}

// LoadAudit reads only the audit stanzas and switches of the given files, merged in order
// (devices appended, a switch on when any file sets it), leaving every other key alone: what
// a dev node's extra -config files and a SIGHUP reload need.
func LoadAudit(paths ...string) (Audit, error) {
	var out Audit
	var errs []error
	seen := map[string]string{}
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			return Audit{}, fmt.Errorf("config: %w", err)
		}
		p := hclparse.NewParser()
		var file *hcl.File
		var diags hcl.Diagnostics
		if strings.EqualFold(filepath.Ext(path), ".json") {
			file, diags = p.ParseJSON(src, path)
		} else {
			file, diags = p.ParseHCL(src, path)
		}
		if diags.HasErrors() {
			return Audit{}, diagErrors(diags)
		}
		var raw rawAuditFile
		if diags := gohcl.DecodeBody(file.Body, nil, &raw); diags.HasErrors() {
			return Audit{}, diagErrors(diags)
		}
		d := &decoder{cfg: &Config{File: path, pos: map[string]hcl.Range{}}}
		d.audit(raw.UnsafeAllowAPIAuditCreation, raw.AllowAuditLogPrefixing, raw.Audits)
		errs = append(errs, d.errs...)
		for _, dev := range d.cfg.Audit.Devices {
			if prev, dup := seen[dev.Path]; dup {
				errs = append(errs, &FieldError{File: dev.File, Line: dev.Line, Field: "audit", Problem: fmt.Sprintf("two audit devices with the same path %s/ (the other is in %s)", dev.Path, prev)})
				continue
			}
			seen[dev.Path] = fmt.Sprintf("%s:%d", dev.File, dev.Line)
			out.Devices = append(out.Devices, dev)
		}
		out.UnsafeAllowAPIAuditCreation = out.UnsafeAllowAPIAuditCreation || d.cfg.Audit.UnsafeAllowAPIAuditCreation
		out.AllowAuditLogPrefixing = out.AllowAuditLogPrefixing || d.cfg.Audit.AllowAuditLogPrefixing
	}
	if len(errs) > 0 {
		return Audit{}, errors.Join(errs...)
	}
	return out, nil
}
