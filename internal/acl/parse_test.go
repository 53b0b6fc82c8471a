package acl

import (
	"errors"
	"strings"
	"testing"
)

// TestParseErrors: every refused policy gives a *ParseError matching ErrInvalidPolicy, at the
// line and column of the problem, saying what is wrong.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		src       string
		line, col int
		want      string
	}{
		{"syntax", "path \"a\" {\n  capabilities = [\"read\"\n}\n", 3, 1, "Missing item separator"},
		{"unclosed block", "path \"a\" {\n", 1, 0, ""},
		{"unknown top-level key", "paths \"a\" {}\n", 1, 1, "Unsupported block type"},
		{"unknown stanza key", "path \"a\" {\n  capabilities = [\"read\"]\n  colour = \"red\"\n}\n", 3, 3, "Unsupported argument"},
		{"missing label", "path {\n}\n", 1, 6, "label"},
		{"unknown capability", "path \"a\" {\n  capabilities = [\"read\", \"root\"]\n}\n", 2, 18, `unknown capability "root"`},
		{"capabilities not a list", "path \"a\" {\n  capabilities = \"read\"\n}\n", 2, 0, ""},
		{"unknown shorthand", "path \"a\" {\n  policy = \"admin\"\n}\n", 2, 12, `unknown policy "admin"`},
		{"plus star", "\npath \"secret/+*\" {\n  capabilities = [\"read\"]\n}\n", 2, 6, "'+*' is forbidden"},
		{"star inside", "path \"secret/*/x\" {\n  capabilities = [\"read\"]\n}\n", 1, 6, "only allowed as the last character"},
		{"mfa", "path \"a\" {\n  capabilities = [\"read\"]\n  mfa_methods = [\"m\"]\n}\n", 3, 3, "no MFA"},
		{"pagination", "path \"a\" {\n  capabilities = [\"list\"]\n  pagination_limit = 10\n}\n", 3, 3, "pagination_limit"},
		{"list filter", "path \"a\" {\n  list_scan_response_keys_filter_path = \"{{ .path }}\"\n}\n", 2, 3, "does not filter"},
		{"control group", "path \"a\" {\n  control_group {\n    ttl = \"4h\"\n  }\n}\n", 2, 3, "control groups"},
		{"bad ttl", "path \"a\" {\n  min_wrapping_ttl = \"soon\"\n}\n", 2, 22, "min_wrapping_ttl must be a duration"},
		{"negative ttl", "path \"a\" {\n  max_wrapping_ttl = -5\n}\n", 2, 22, "max_wrapping_ttl must be a duration"},
		{"max below min", "path \"a\" {\n  min_wrapping_ttl = \"2m\"\n  max_wrapping_ttl = \"1m\"\n}\n", 3, 22, "cannot be less than"},
		{"bad expiration", "path \"a\" {\n  expiration = \"tomorrow\"\n}\n", 2, 16, "RFC 3339"},
		{"params not an object", "path \"a\" {\n  allowed_parameters = [\"x\"]\n}\n", 2, 24, "must be an object"},
		{"param value not a list", "path \"a\" {\n  denied_parameters = { \"x\" = \"y\" }\n}\n", 2, 23, "must be a list"},
		{"param value nested", "path \"a\" {\n  denied_parameters = { \"x\" = [[\"y\"]] }\n}\n", 2, 23, "strings, numbers or booleans"},
		{"param star with values", "path \"a\" {\n  allowed_parameters = { \"*\" = [\"x\"] }\n}\n", 2, 24, `"*" can take is []`},
		{"variable reference", "path \"a\" {\n  capabilities = [read]\n}\n", 2, 19, "Variables not allowed"},
		{"function call", "path \"a\" {\n  capabilities = upper(\"x\")\n}\n", 2, 18, "Function calls not allowed"},
		{"templated deny", "path \"secret/{{identity.entity.id}}/*\" {\n  capabilities = [\"deny\"]\n}\n", 1, 6, "templated path cannot deny"},
		{"unknown template", "path \"secret/{{token.id}}\" {\n  capabilities = [\"read\"]\n}\n", 1, 6, "only identity.* parameters"},
		{"unbalanced template", "path \"secret/}}x{{\" {\n  capabilities = [\"read\"]\n}\n", 1, 6, "unbalanced"},
		{"json unknown key", `{"path": {"a": {"capabilities": ["read"], "colour": 1}}}`, 1, 43, `No argument or block type is named "colour"`},
		{"json syntax", `{"path": {"a": {"capabilities": ["read"]}}`, 1, 0, ""},
		{"single-line block with two arguments", "path \"a\" { capabilities = [\"read\"]\n policy = \"read\" }\n", 1, 0, "single-line block"},
		{"object written as a block (HCL 1 form)", "path \"a\" {\n  allowed_parameters {\n    \"foo\" = []\n  }\n}\n", 3, 5, `allowed_parameters = { "name" = [] }`},
		{"too large", strings.Repeat("#", MaxPolicySize+1), 0, 0, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("bad", []byte(tc.src))
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("error %v does not match ErrInvalidPolicy", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.Line != tc.line || (tc.col != 0 && pe.Column != tc.col) {
				t.Errorf("at line %d column %d, want line %d column %d: %v", pe.Line, pe.Column, tc.line, tc.col, err)
			}
			if tc.line > 0 && pe.Column == 0 {
				t.Errorf("no column: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `policy "bad"`) {
				t.Errorf("error %q does not name the policy or say %q", err, tc.want)
			}
		})
	}
}

// TestParseAccepts: what OpenBao accepts and Baton can enforce parses to the expected rule.
func TestParseAccepts(t *testing.T) {
	p, err := Parse("ok", []byte(`
path "a/*" {
  capabilities        = ["create", "read"]
  allowed_parameters  = { "X" = [], "y" = ["v", 2, true] }
  denied_parameters   = { "z" = [] }
  required_parameters = ["x"]
  min_wrapping_ttl    = 30
  max_wrapping_ttl    = "2d"
  expiration          = "2040-01-01T00:00:00Z"
}
path "b/{{identity.entity.id}}" {
  capabilities = ["read"]
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Paths) != 2 || !p.Templated {
		t.Fatalf("parsed %+v", p)
	}
	r := p.Paths[0]
	if r.Path != "a/*" || r.Capabilities != CapCreate|CapRead || r.Line != 2 {
		t.Errorf("rule %+v", r)
	}
	if _, ok := r.AllowedParameters["x"]; !ok || len(r.AllowedParameters["y"]) != 3 {
		t.Errorf("allowed %v (names lower-cased, three values)", r.AllowedParameters)
	}
	if r.MinWrappingTTL.Seconds() != 30 || r.MaxWrappingTTL.Hours() != 48 || r.Expiration.Year() != 2040 {
		t.Errorf("ttl/expiration %v %v %v", r.MinWrappingTTL, r.MaxWrappingTTL, r.Expiration)
	}
	if !p.Paths[1].Templated || p.Paths[0].Templated {
		t.Error("templated flags wrong")
	}
	// An empty policy grants nothing but is valid, as in OpenBao.
	if p, err := Parse("empty", nil); err != nil || len(p.Paths) != 0 {
		t.Errorf("empty policy: %v %v", p, err)
	}
}
