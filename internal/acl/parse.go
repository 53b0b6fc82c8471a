package acl

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty"
)

// MaxPolicySize bounds the text of one policy, so that a caller cannot make the parser work on
// an unbounded input (OpenBao sets no limit; a real policy is a few kilobytes).
const MaxPolicySize = 1 << 20

// ErrInvalidPolicy is wrapped by every ParseError, so that callers can tell a bad policy
// (400) from a failure of their own.
var ErrInvalidPolicy = errors.New("invalid policy")

// ParseError is one problem with a policy's text, located by line and column.
type ParseError struct {
	// Policy is the name the policy was parsed under.
	Policy string
	// Line and Column locate the problem (1-based); 0 when the problem has no place, such as
	// a policy that is too large.
	Line, Column int
	// Problem says what is wrong and, where it can, what to write instead.
	Problem string
}

// Error renders `policy "name", line L, column C: problem`.
func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("policy %q: %s", e.Policy, e.Problem)
	}
	return fmt.Sprintf("policy %q, line %d, column %d: %s", e.Policy, e.Line, e.Column, e.Problem)
}

// Unwrap makes every ParseError match ErrInvalidPolicy.
func (e *ParseError) Unwrap() error { return ErrInvalidPolicy }

// Policy is one parsed ACL policy.
type Policy struct {
	// Name is the name the policy was parsed under.
	Name string
	// Paths holds one rule per path stanza, in the order written.
	Paths []PathRule
	// Templated is true when a path uses identity templating ({{identity.…}}).
	Templated bool
}

// PathRule is one `path "…" { … }` stanza.
type PathRule struct {
	// Path is the pattern as written, without a leading "/": exact, ending in "*" (glob) or
	// holding "+" segments.
	Path string
	// Capabilities is what the stanza grants; a stanza with deny holds deny alone.
	Capabilities Capability
	// AllowedParameters, DeniedParameters (lower-cased names → values; an empty list means
	// any value) and RequiredParameters constrain a request's parameters.
	AllowedParameters  map[string][]any
	DeniedParameters   map[string][]any
	RequiredParameters []string
	// MinWrappingTTL and MaxWrappingTTL bound the response-wrapping TTL a request asks for;
	// 0 means no bound.
	MinWrappingTTL, MaxWrappingTTL time.Duration
	// Expiration, when set, ends the stanza: after it the stanza grants (and denies) nothing.
	Expiration time.Time
	// Templated stanzas use identity templating. Baton has no identity entities, so they never
	// match anything, as OpenBao treats a token without an entity.
	Templated bool
	// Line is where the stanza starts.
	Line int
}

var rootSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "name"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "path", LabelNames: []string{"path"}}},
}

// unsupported names the stanza keys OpenBao accepts that Baton cannot enforce, with the reason.
// Refusing them keeps a policy from granting more here than in OpenBao.
var unsupported = map[string]string{
	"mfa_methods":                         "Baton has no MFA, so it cannot require it; remove mfa_methods",
	"pagination_limit":                    "Baton does not paginate lists, so it cannot enforce pagination_limit; remove it",
	"list_scan_response_keys_filter_path": "Baton does not filter list results, so it cannot enforce list_scan_response_keys_filter_path; remove it",
	"control_group":                       "control groups are not part of OpenBao's open-source policies nor of Baton's; remove control_group",
}

var pathSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "comment"},
		{Name: "policy"},
		{Name: "capabilities"},
		{Name: "allowed_parameters"},
		{Name: "denied_parameters"},
		{Name: "required_parameters"},
		{Name: "min_wrapping_ttl"},
		{Name: "max_wrapping_ttl"},
		{Name: "expiration"},
		{Name: "mfa_methods"},
		{Name: "pagination_limit"},
		{Name: "list_scan_response_keys_filter_path"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "control_group"}},
}

// oldPolicies maps the older `policy = "…"` shorthand to capabilities, as OpenBao does.
var oldPolicies = map[string]Capability{
	"deny":  CapDeny,
	"read":  CapRead | CapList,
	"write": CapCreate | CapRead | CapUpdate | CapDelete | CapList,
	"sudo":  CapCreate | CapRead | CapUpdate | CapDelete | CapList | CapSudo,
}

// parser carries the policy name into every error.
type parser struct{ name string }

// errAt builds a ParseError at a range.
func (p *parser) errAt(r hcl.Range, format string, args ...any) *ParseError {
	return &ParseError{Policy: p.name, Line: r.Start.Line, Column: r.Start.Column, Problem: fmt.Sprintf(format, args...)}
}

// diagErr turns HCL diagnostics into a ParseError at the first error.
func (p *parser) diagErr(diags hcl.Diagnostics) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		e := &ParseError{Policy: p.name, Problem: d.Summary}
		if d.Detail != "" {
			e.Problem += ": " + d.Detail
		}
		if d.Summary == "Invalid argument name" {
			// HCL 1, which OpenBao uses, also took `allowed_parameters { "x" = [] }`.
			e.Problem += ` (parameter maps take an equals sign: allowed_parameters = { "name" = [] })`
		}
		if d.Subject != nil {
			e.Line, e.Column = d.Subject.Start.Line, d.Subject.Start.Column
		}
		return e
	}
	return nil
}

// Parse reads a policy written in OpenBao's HCL (or its JSON form, when the text starts with
// "{"). Every problem is a *ParseError naming the line and column.
func Parse(name string, src []byte) (*Policy, error) {
	p := &parser{name: name}
	if len(src) > MaxPolicySize {
		return nil, &ParseError{Policy: name, Problem: fmt.Sprintf("larger than %d bytes", MaxPolicySize)}
	}
	var (
		file  *hcl.File
		diags hcl.Diagnostics
	)
	if bytes.HasPrefix(bytes.TrimSpace(src), []byte("{")) {
		file, diags = hcljson.Parse(src, name)
	} else {
		file, diags = hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	}
	if diags.HasErrors() {
		return nil, p.diagErr(diags)
	}
	content, diags := file.Body.Content(rootSchema)
	if diags.HasErrors() {
		return nil, p.diagErr(diags)
	}
	if a, ok := content.Attributes["name"]; ok {
		// OpenBao accepts a top-level name and then names the policy by its URL; so does Baton.
		var s string
		if diags := gohcl.DecodeExpression(a.Expr, nil, &s); diags.HasErrors() {
			return nil, p.diagErr(diags)
		}
	}
	pol := &Policy{Name: name, Paths: make([]PathRule, 0, len(content.Blocks))}
	for _, b := range content.Blocks {
		pr, err := p.pathRule(b)
		if err != nil {
			return nil, err
		}
		pol.Templated = pol.Templated || pr.Templated
		pol.Paths = append(pol.Paths, pr)
	}
	return pol, nil
}

// pathRule reads one path stanza.
func (p *parser) pathRule(b *hcl.Block) (PathRule, error) {
	labelRange := b.DefRange
	if len(b.LabelRanges) > 0 {
		labelRange = b.LabelRanges[0]
	}
	pr := PathRule{Path: b.Labels[0], Line: b.DefRange.Start.Line}
	content, diags := b.Body.Content(pathSchema)
	if diags.HasErrors() {
		return pr, p.diagErr(diags)
	}
	for _, cb := range content.Blocks {
		return pr, p.errAt(cb.DefRange, "%s", unsupported[cb.Type])
	}
	for name, why := range unsupported {
		if a, ok := content.Attributes[name]; ok {
			return pr, p.errAt(a.NameRange, "%s", why)
		}
	}

	// The path itself.
	pr.Path = strings.TrimPrefix(pr.Path, "/")
	if err := p.checkPath(&pr, labelRange); err != nil {
		return pr, err
	}

	// Capabilities, with the older shorthand folded in.
	if a, ok := content.Attributes["capabilities"]; ok {
		var caps []string
		if diags := gohcl.DecodeExpression(a.Expr, nil, &caps); diags.HasErrors() {
			return pr, p.diagErr(diags)
		}
		for _, c := range caps {
			bit, ok := parseCapability(c)
			if !ok {
				return pr, p.errAt(a.Expr.Range(), "unknown capability %q (known: create, read, update, delete, list, patch, scan, sudo, deny)", c)
			}
			pr.Capabilities |= bit
		}
	}
	if a, ok := content.Attributes["policy"]; ok {
		var s string
		if diags := gohcl.DecodeExpression(a.Expr, nil, &s); diags.HasErrors() {
			return pr, p.diagErr(diags)
		}
		bits, ok := oldPolicies[s]
		if !ok {
			return pr, p.errAt(a.Expr.Range(), "unknown policy %q (known: read, write, sudo, deny)", s)
		}
		pr.Capabilities |= bits
	}
	if pr.Capabilities&CapDeny != 0 {
		pr.Capabilities = CapDeny
	}
	if pr.Templated && pr.Capabilities&CapDeny != 0 {
		// OpenBao skips a templated stanza for a token without an identity entity, and Baton
		// has none: a skipped deny would grant what its author meant to refuse.
		return pr, p.errAt(labelRange, "a templated path cannot deny: Baton has no identity entities, so the template never resolves and the deny would never apply; write the path without a template")
	}

	// Parameter constraints.
	var err error
	if a, ok := content.Attributes["allowed_parameters"]; ok {
		if pr.AllowedParameters, err = p.paramMap(a); err != nil {
			return pr, err
		}
		if v, ok := pr.AllowedParameters["*"]; ok && len(v) > 0 {
			return pr, p.errAt(a.Expr.Range(), `the only value "*" can take is [] (any other parameter allowed)`)
		}
	}
	if a, ok := content.Attributes["denied_parameters"]; ok {
		if pr.DeniedParameters, err = p.paramMap(a); err != nil {
			return pr, err
		}
		if v, ok := pr.DeniedParameters["*"]; ok && len(v) > 0 {
			return pr, p.errAt(a.Expr.Range(), `the only value "*" can take is [] (every parameter denied)`)
		}
	}
	if a, ok := content.Attributes["required_parameters"]; ok {
		if diags := gohcl.DecodeExpression(a.Expr, nil, &pr.RequiredParameters); diags.HasErrors() {
			return pr, p.diagErr(diags)
		}
	}

	// Response-wrapping bounds.
	if a, ok := content.Attributes["min_wrapping_ttl"]; ok {
		if pr.MinWrappingTTL, err = p.duration(a); err != nil {
			return pr, err
		}
	}
	if a, ok := content.Attributes["max_wrapping_ttl"]; ok {
		if pr.MaxWrappingTTL, err = p.duration(a); err != nil {
			return pr, err
		}
		if pr.MinWrappingTTL != 0 && pr.MaxWrappingTTL != 0 && pr.MaxWrappingTTL < pr.MinWrappingTTL {
			return pr, p.errAt(a.Expr.Range(), "max_wrapping_ttl cannot be less than min_wrapping_ttl")
		}
	}

	if a, ok := content.Attributes["expiration"]; ok {
		var s string
		if diags := gohcl.DecodeExpression(a.Expr, nil, &s); diags.HasErrors() {
			return pr, p.diagErr(diags)
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return pr, p.errAt(a.Expr.Range(), "expiration %q is not an RFC 3339 time (2006-01-02T15:04:05Z)", s)
		}
		pr.Expiration = t
	}
	return pr, nil
}

// checkPath validates the glob characters and templates of a path pattern.
func (p *parser) checkPath(pr *PathRule, r hcl.Range) error {
	path := pr.Path
	if strings.Contains(path, "+*") {
		return p.errAt(r, "path %q: invalid use of wildcards ('+*' is forbidden)", path)
	}
	if i := strings.IndexByte(path, '*'); i >= 0 && i != len(path)-1 {
		return p.errAt(r, "path %q: the glob '*' is only allowed as the last character", path)
	}
	if strings.Contains(path, "{{") || strings.Contains(path, "}}") {
		rest := path
		for rest != "" {
			open := strings.Index(rest, "{{")
			closing := strings.Index(rest, "}}")
			if open < 0 && closing < 0 {
				break
			}
			if open < 0 || closing < open {
				return p.errAt(r, "path %q: unbalanced template braces", path)
			}
			inner := strings.TrimSpace(rest[open+2 : closing])
			if !strings.HasPrefix(inner, "identity.") {
				return p.errAt(r, "path %q: template {{%s}}: only identity.* parameters exist", path, inner)
			}
			rest = rest[closing+2:]
		}
		pr.Templated = true
	}
	return nil
}

// paramMap reads allowed_parameters/denied_parameters: an object of parameter names to lists of
// values (strings, numbers, booleans); names are lower-cased as OpenBao does.
func (p *parser) paramMap(a *hcl.Attribute) (map[string][]any, error) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return nil, p.diagErr(diags)
	}
	t := v.Type()
	if v.IsNull() || !v.IsWhollyKnown() || !(t.IsObjectType() || t.IsMapType()) {
		return nil, p.errAt(a.Expr.Range(), `%s must be an object of parameter names to lists of values, as {"name" = [], "other" = ["a", "b"]}`, a.Name)
	}
	out := make(map[string][]any, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		k, list := it.Element()
		lt := list.Type()
		if list.IsNull() || !(lt.IsListType() || lt.IsTupleType() || lt.IsSetType()) {
			return nil, p.errAt(a.Expr.Range(), "%s: the value for %q must be a list", a.Name, k.AsString())
		}
		vals := make([]any, 0, list.LengthInt())
		for lit := list.ElementIterator(); lit.Next(); {
			_, e := lit.Element()
			gv, ok := plainValue(e)
			if !ok {
				return nil, p.errAt(a.Expr.Range(), "%s: the values for %q must be strings, numbers or booleans", a.Name, k.AsString())
			}
			vals = append(vals, gv)
		}
		out[strings.ToLower(k.AsString())] = vals
	}
	return out, nil
}

// plainValue converts a primitive cty value to string, bool or float64.
func plainValue(v cty.Value) (any, bool) {
	if v.IsNull() || !v.IsKnown() {
		return nil, false
	}
	switch v.Type() {
	case cty.String:
		return v.AsString(), true
	case cty.Bool:
		return v.True(), true
	case cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return f, true
	}
	return nil, false
}

// duration reads a TTL as OpenBao does: a number of seconds, or a duration string ("90s",
// "1h", "2d").
func (p *parser) duration(a *hcl.Attribute) (time.Duration, error) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return 0, p.diagErr(diags)
	}
	bad := p.errAt(a.Expr.Range(), `%s must be a duration ("90s", "1h", "2d") or a number of seconds`, a.Name)
	if v.IsNull() || !v.IsKnown() {
		return 0, bad
	}
	var d time.Duration
	switch v.Type() {
	case cty.Number:
		bf := v.AsBigFloat()
		if !bf.IsInt() || bf.Sign() < 0 || bf.Cmp(big.NewFloat(float64(1<<40))) > 0 {
			return 0, bad
		}
		n, _ := bf.Int64()
		d = time.Duration(n) * time.Second
	case cty.String:
		s := strings.TrimSpace(v.AsString())
		var err error
		d, err = parseDuration(s)
		if err != nil || d < 0 {
			return 0, bad
		}
	default:
		return 0, bad
	}
	return d, nil
}

// parseDuration reads "90" (seconds), "2d" (days) or a Go duration.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 1<<40 {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > 1<<20 {
			return 0, errors.New("bad days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
