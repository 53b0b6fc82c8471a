package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestAuditStanza(t *testing.T) {
	c, ws := parse(t, minimal+`
unsafe_allow_api_audit_creation = true
allow_audit_log_prefixing = true
audit "file" "to-file" {
  description = "the main log"
  options {
    file_path     = "/var/log/baton/audit.log"
    mode          = 0640
    log_raw       = false
    hmac_accessor = "false"
    prefix        = "BATON "
  }
}
audit "file" "out/" {
  options {
    file_path = "stdout"
  }
}
`)
	want := Audit{
		UnsafeAllowAPIAuditCreation: true, AllowAuditLogPrefixing: true,
		Devices: []AuditDevice{
			{Type: "file", Path: "to-file", Description: "the main log", File: "test.hcl", Line: 13,
				Options: map[string]string{"file_path": "/var/log/baton/audit.log", "mode": "640", "log_raw": "false", "hmac_accessor": "false", "prefix": "BATON "}},
			{Type: "file", Path: "out", File: "test.hcl", Line: 23, Options: map[string]string{"file_path": "stdout"}},
		},
	}
	if !reflect.DeepEqual(c.Audit, want) {
		t.Fatalf("got  %+v\nwant %+v", c.Audit, want)
	}
	found := false
	for _, w := range ws {
		found = found || w.Key == "unsafe_allow_api_audit_creation"
	}
	if !found {
		t.Error("no warning for unsafe_allow_api_audit_creation = true")
	}
}

func TestAuditStanzaErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"type", `audit "socket" "s" {
  options {
    address = "x"
  }
}`, "only the file audit device"},
		{"no file_path", `audit "file" "f" { description = "x" }`, "needs options { file_path"},
		{"relative file_path", `audit "file" "f" {
  options {
    file_path = "audit.log"
  }
}`, "must be an absolute path"},
		{"duplicate", `audit "file" "f" {
  options {
    file_path = "/a"
  }
}
audit "file" "f/" {
  options {
    file_path = "/b"
  }
}`, "same path f/"},
		{"two options blocks", `audit "file" "f" {
  options { file_path = "/a" }
  options { file_path = "/b" }
}`, "only one options block"},
		{"bad switch", `unsafe_allow_api_audit_creation = "maybe"`, "must be true or false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(minimal+tc.src+"\n"), "test.hcl")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}

// TestLoadAudit: a dev node's extra -config files hold only audit stanzas (no listener, no
// storage), and several files merge.
func TestLoadAudit(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.hcl")
	b := filepath.Join(dir, "b.hcl")
	if err := os.WriteFile(a, []byte(`audit "file" "one" {
  options {
    file_path = "/tmp/one.log"
  }
}
listener "tcp" { whatever = 1 }
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, []byte(`unsafe_allow_api_audit_creation = true
audit "file" "two" {
  options {
    file_path = "stdout"
  }
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadAudit(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Devices) != 2 || got.Devices[0].Path != "one" || got.Devices[1].Path != "two" || !got.UnsafeAllowAPIAuditCreation {
		t.Fatalf("got %+v", got)
	}
	if _, err := LoadAudit(a, a); err == nil || !strings.Contains(err.Error(), "same path one/") {
		t.Fatalf("the same device in two files: %v", err)
	}
	if _, err := LoadAudit(filepath.Join(dir, "missing.hcl")); err == nil {
		t.Fatal("a missing file loaded")
	}
}
