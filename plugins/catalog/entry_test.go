package catalog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	sumA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	sumB = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestParseType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Type
		ok   bool
	}{
		{"database", TypeDatabase, true},
		{"secret", TypeSecret, true},
		{"auth", TypeAuth, true},
		{"unknown", "", false},
		{"", "", false},
		{"Database", "", false},
	} {
		got, err := ParseType(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseType(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseType(%q): %v does not wrap ErrInvalid", tc.in, err)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wantErr string // substring of the refusal; "" means accepted
	}{
		{"postgresql-database-plugin", ""},
		{"My_Plugin.v2", ""},
		{strings.Repeat("a", MaxNameLength), ""},
		{"", "name is empty"},
		{strings.Repeat("a", MaxNameLength+1), "129 characters long"},
		{"a/b", `holds '/'`},
		{`a\b`, `holds '\\'`},
		{"..", `name ".." is not allowed`},
		{".", `name "." is not allowed`},
		{"with space", `holds ' '`},
		{"émoji", `holds 'é'`},
	} {
		err := ValidateName(tc.name)
		checkRefusal(t, fmt.Sprintf("ValidateName(%.20q)", tc.name), err, tc.wantErr)
	}
}

func TestNormalizeSHA256(t *testing.T) {
	for _, tc := range []struct {
		in, want, wantErr string
	}{
		{sumA, sumA, ""},
		{strings.ToUpper(sumA), sumA, ""},
		{sumA[:63], "", "63 characters long"},
		{sumA + "0", "", "65 characters long"},
		{"", "", "0 characters long"},
		{sumA[:63] + "g", "", "'g', which is not a hex digit"},
	} {
		got, err := NormalizeSHA256(tc.in)
		checkRefusal(t, fmt.Sprintf("NormalizeSHA256(%q)", tc.in), err, tc.wantErr)
		if got != tc.want {
			t.Errorf("NormalizeSHA256(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidateEnvNeverEchoesValues(t *testing.T) {
	const secret = "s3cr3t-p4ss"
	for _, tc := range []struct {
		env     []string
		wantErr string
	}{
		{nil, ""},
		{[]string{"A=1", "B=", "C=x=y"}, ""},
		{[]string{"A=1", secret}, "env[1] has no '='"},
		{[]string{"=" + secret}, "env[0] has an empty key"},
		{[]string{"K=" + secret + "\x00"}, `env[0] (key "K") value holds a NUL byte`},
		{[]string{"K\x00=" + secret}, "env[0] key holds a NUL byte"},
	} {
		err := ValidateEnv(tc.env)
		checkRefusal(t, fmt.Sprintf("ValidateEnv(%d items)", len(tc.env)), err, tc.wantErr)
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("refusal echoes an env value: %v", err)
		}
	}
}

func TestCanonical(t *testing.T) {
	valid := Entry{Type: TypeDatabase, Name: "pg", Version: "v1.0", SHA256: strings.ToUpper(sumA), Command: "./bin//pg-plugin", Args: []string{"-x"}, Env: []string{"A=1"}}
	got, err := valid.Canonical()
	if err != nil {
		t.Fatalf("Canonical: %v", err)
	}
	want := Entry{Type: TypeDatabase, Name: "pg", Version: "v1.0.0", SHA256: sumA, Command: "bin/pg-plugin", Args: []string{"-x"}, Env: []string{"A=1"}}
	if got.String() != want.String() || got.SHA256 != want.SHA256 || fmt.Sprint(got.Args, got.Env) != fmt.Sprint(want.Args, want.Env) {
		t.Errorf("Canonical = %+v, want %+v", got, want)
	}

	bare, err := Entry{Type: TypeDatabase, Name: "pg", SHA256: sumA, Command: "pg"}.Canonical()
	if err != nil {
		t.Fatalf("Canonical: %v", err)
	}
	if bare.Args == nil || bare.Env == nil {
		t.Errorf("Canonical left nil slices (%#v, %#v): encodings would differ between nodes", bare.Args, bare.Env)
	}

	for _, tc := range []struct {
		name    string
		mutate  func(*Entry)
		wantErr string
	}{
		{"unknown type", func(e *Entry) { e.Type = TypeUnknown }, `type "unknown" is not a plugin type`},
		{"bad name", func(e *Entry) { e.Name = "a/b" }, `name "a/b"`},
		{"version without v", func(e *Entry) { e.Version = "1.2.3" }, `lacks the leading 'v': write "v1.2.3"`},
		{"bad version", func(e *Entry) { e.Version = "latest" }, `version "latest" is not a semantic version`},
		{"missing sha", func(e *Entry) { e.SHA256 = "" }, "sha256"},
		{"missing command", func(e *Entry) { e.Command = "" }, "command is empty"},
		{"absolute command", func(e *Entry) { e.Command = "/usr/bin/pg" }, "is an absolute path"},
		{"dotdot command", func(e *Entry) { e.Command = "bin/../../pg" }, "holds a '..' element"},
		{"dot command", func(e *Entry) { e.Command = "./" }, "names the plugin directory itself"},
		{"NUL arg", func(e *Entry) { e.Args = []string{"ok", "a\x00"} }, "args[1] holds a NUL byte"},
		{"bad env", func(e *Entry) { e.Env = []string{"novalue"} }, "env[0] has no '='"},
		{"builtin without sha or command", func(e *Entry) { e.Builtin = true; e.SHA256 = ""; e.Command = "" }, ""},
		{"builtin with bad sha", func(e *Entry) { e.Builtin = true; e.SHA256 = "xyz" }, "sha256"},
	} {
		e := valid
		tc.mutate(&e)
		_, err := e.Canonical()
		checkRefusal(t, tc.name, err, tc.wantErr)
	}
}

func TestEntryStringHidesEnvValues(t *testing.T) {
	e := Entry{Type: TypeDatabase, Name: "pg", Command: "pg", Env: []string{"PGPASSWORD=hunter2", "MODE=x"}}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, e)
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s prints an env value: %s", format, out)
		}
		if !strings.Contains(out, "PGPASSWORD") {
			t.Errorf("%s does not name the env keys: %s", format, out)
		}
	}
}

// checkRefusal fails the test unless err is nil when wantErr is empty, or else wraps
// ErrInvalid and contains wantErr.
func checkRefusal(t *testing.T, what string, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case wantErr != "" && err == nil:
		t.Errorf("%s: accepted, want a refusal containing %q", what, wantErr)
	case wantErr != "" && !errors.Is(err, ErrInvalid):
		t.Errorf("%s: %v does not wrap ErrInvalid", what, err)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Errorf("%s: refusal %q does not contain %q", what, err, wantErr)
	}
}
