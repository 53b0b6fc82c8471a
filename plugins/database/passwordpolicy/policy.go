// Package passwordpolicy reads OpenBao's password policies (sys/policies/password/:name) and
// generates passwords that meet them. A policy is HCL:
//
//	length = 20
//	rule "charset" {
//	  charset   = "abcdefghijklmnopqrstuvwxyz"
//	  min-chars = 1
//	}
//
// A password is drawn from the union of the rules' charsets, with at least min-chars characters
// from each rule's charset, using crypto/rand. The text is parsed by the proposer and stored as
// written (raftstore/state), so a stricter parser in a later release never makes an old log
// entry replay differently.
package passwordpolicy

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Bounds on a policy. OpenBao requires a length of at least 4; the upper bounds keep a caller
// from making the node generate or hold unbounded passwords.
const (
	MinLength = 4
	MaxLength = 1024
	MaxSize   = 64 << 10
)

// ErrInvalid is wrapped by every ParseError.
var ErrInvalid = errors.New("invalid password policy")

// ParseError is a problem with a policy's text, with its line and column when it has a place.
type ParseError struct {
	Line, Column int
	Problem      string
}

// Error renders "line L, column C: problem".
func (e *ParseError) Error() string {
	if e.Line == 0 {
		return "password policy: " + e.Problem
	}
	return fmt.Sprintf("password policy, line %d, column %d: %s", e.Line, e.Column, e.Problem)
}

// Unwrap makes every ParseError match ErrInvalid.
func (e *ParseError) Unwrap() error { return ErrInvalid }

// Rule is one `rule "charset"` block.
type Rule struct {
	Charset  []rune
	MinChars int
}

// Policy is a parsed password policy.
type Policy struct {
	Length int
	Rules  []Rule
	// charset is the union of the rules' charsets, sorted, without repeats.
	charset []rune
}

type rawPolicy struct {
	Length *hcl.Attribute `hcl:"length"`
	Rules  []rawRule      `hcl:"rule,block"`
	Remain hcl.Body       `hcl:",remain"`
}

type rawRule struct {
	Type     string    `hcl:"type,label"`
	Charset  *string   `hcl:"charset"`
	MinChars *int      `hcl:"min-chars"`
	Remain   hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
}

func diagErr(diags hcl.Diagnostics) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		pe := &ParseError{Problem: d.Summary}
		if d.Detail != "" {
			pe.Problem += ": " + d.Detail
		}
		if d.Subject != nil {
			pe.Line, pe.Column = d.Subject.Start.Line, d.Subject.Start.Column
		}
		return pe
	}
	return &ParseError{Problem: "the policy does not parse"}
}

// Parse reads a policy's HCL text.
func Parse(text string) (*Policy, error) {
	if len(text) > MaxSize {
		return nil, &ParseError{Problem: fmt.Sprintf("the policy is %d bytes; at most %d are allowed", len(text), MaxSize)}
	}
	if strings.TrimSpace(text) == "" {
		return nil, &ParseError{Problem: `the policy is empty: write length = 20 and at least one rule "charset" { charset = "…" }`}
	}
	file, diags := hclsyntax.ParseConfig([]byte(text), "policy.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diagErr(diags)
	}
	var raw rawPolicy
	if diags := gohcl.DecodeBody(file.Body, nil, &raw); diags.HasErrors() {
		return nil, diagErr(diags)
	}
	if attrs, _ := raw.Remain.JustAttributes(); len(attrs) > 0 {
		for _, a := range attrs {
			return nil, &ParseError{Line: a.Range.Start.Line, Column: a.Range.Start.Column, Problem: fmt.Sprintf("unknown key %q: a policy has length and rule \"charset\" blocks", a.Name)}
		}
	}
	if raw.Length == nil {
		return nil, &ParseError{Line: 1, Column: 1, Problem: "length is required: write length = 20"}
	}
	p := &Policy{}
	at := raw.Length.Expr.Range().Start
	if diags := gohcl.DecodeExpression(raw.Length.Expr, nil, &p.Length); diags.HasErrors() {
		return nil, &ParseError{Line: at.Line, Column: at.Column, Problem: "length must be a whole number, such as length = 20"}
	}
	if p.Length < MinLength || p.Length > MaxLength {
		return nil, &ParseError{Line: at.Line, Column: at.Column, Problem: fmt.Sprintf("length must be from %d to %d, not %d", MinLength, MaxLength, p.Length)}
	}
	if len(raw.Rules) == 0 {
		return nil, &ParseError{Problem: `no rule: write at least one rule "charset" { charset = "abcdefghijklmnopqrstuvwxyz" }`}
	}
	seen := map[rune]bool{}
	need := 0
	for _, r := range raw.Rules {
		at := r.DefRange.Start
		if r.Type != "charset" {
			return nil, &ParseError{Line: at.Line, Column: at.Column, Problem: fmt.Sprintf("unknown rule type %q: Baton knows rule \"charset\"", r.Type)}
		}
		if r.Charset == nil || *r.Charset == "" {
			return nil, &ParseError{Line: at.Line, Column: at.Column, Problem: "rule \"charset\" needs a non-empty charset"}
		}
		if !utf8.ValidString(*r.Charset) {
			return nil, &ParseError{Line: at.Line, Column: at.Column, Problem: "charset is not valid UTF-8"}
		}
		rule := Rule{Charset: dedupe([]rune(*r.Charset))}
		if r.MinChars != nil {
			if *r.MinChars < 0 {
				return nil, &ParseError{Line: at.Line, Column: at.Column, Problem: fmt.Sprintf("min-chars must not be negative, not %d", *r.MinChars)}
			}
			rule.MinChars = *r.MinChars
		}
		need += rule.MinChars
		for _, c := range rule.Charset {
			seen[c] = true
		}
		p.Rules = append(p.Rules, rule)
	}
	if need > p.Length {
		return nil, &ParseError{Problem: fmt.Sprintf("the rules require at least %d characters but length is %d", need, p.Length)}
	}
	for c := range seen {
		p.charset = append(p.charset, c)
	}
	slices.Sort(p.charset)
	return p, nil
}

func dedupe(rs []rune) []rune {
	slices.Sort(rs)
	return slices.Compact(rs)
}

// Default is OpenBao's default password policy for the database engine: 20 characters of
// letters, digits and '-', with at least one lower-case letter, upper-case letter, digit
// and '-'.
const Default = `length = 20
rule "charset" {
  charset   = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}
rule "charset" {
  charset   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
  min-chars = 1
}
rule "charset" {
  charset   = "0123456789"
  min-chars = 1
}
rule "charset" {
  charset   = "-"
  min-chars = 1
}
`

// Generate draws a password meeting every rule: min-chars characters from each rule's
// charset, the rest from the union of the charsets, in an order shuffled with crypto/rand.
func (p *Policy) Generate() (string, error) {
	out := make([]rune, 0, p.Length)
	pick := func(set []rune) error {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return fmt.Errorf("generate a password: %w", err)
		}
		out = append(out, set[n.Int64()])
		return nil
	}
	for _, r := range p.Rules {
		for range r.MinChars {
			if err := pick(r.Charset); err != nil {
				return "", err
			}
		}
	}
	for len(out) < p.Length {
		if err := pick(p.charset); err != nil {
			return "", err
		}
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", fmt.Errorf("generate a password: %w", err)
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

// Check says whether a password meets the policy: its length, every character in the
// charsets, and each rule's min-chars.
func (p *Policy) Check(pw string) error {
	rs := []rune(pw)
	if len(rs) != p.Length {
		return fmt.Errorf("length %d, want %d", len(rs), p.Length)
	}
	for _, c := range rs {
		if _, ok := slices.BinarySearch(p.charset, c); !ok {
			return fmt.Errorf("character %U is in no rule's charset", c)
		}
	}
	for i, r := range p.Rules {
		n := 0
		for _, c := range rs {
			if _, ok := slices.BinarySearch(r.Charset, c); ok {
				n++
			}
		}
		if n < r.MinChars {
			return fmt.Errorf("rule %d: %d characters of its charset, want at least %d", i+1, n, r.MinChars)
		}
	}
	return nil
}
