package passwordpolicy

import (
	"errors"
	"strings"
	"testing"
)

// TestParseErrors: each bad policy is ErrInvalid with the line and column of the problem.
func TestParseErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"empty", "  ", "the policy is empty"},
		{"bad syntax", "length = 20\nrule \"charset\" {\n  charset = \n}\n", "line 3, column"},
		{"no length", "rule \"charset\" { charset = \"abc\" }\n", "line 1, column 1"},
		{"length too short", "length = 3\nrule \"charset\" { charset = \"abc\" }\n", "line 1, column 10: length must be from 4 to 1024, not 3"},
		{"length not a number", "length = \"long\"\nrule \"charset\" { charset = \"abc\" }\n", "line 1, column 10: length must be a whole number"},
		{"no rule", "length = 20\n", "no rule"},
		{"unknown rule", "length = 20\nrule \"charset\" { charset = \"abc\" }\nrule \"words\" { charset = \"abc\" }\n", `line 3, column 1: unknown rule type "words"`},
		{"empty charset", "length = 20\nrule \"charset\" { charset = \"\" }\n", "line 2, column 1: rule \"charset\" needs a non-empty charset"},
		{"negative min-chars", "length = 20\nrule \"charset\" {\n charset = \"abc\"\n min-chars = -1\n}\n", "min-chars must not be negative"},
		{"rules need more than length", "length = 4\nrule \"charset\" {\n charset = \"abc\"\n min-chars = 3\n}\nrule \"charset\" {\n charset = \"123\"\n min-chars = 2\n}\n", "require at least 5 characters but length is 4"},
		{"unknown key", "length = 20\ncolour = \"red\"\nrule \"charset\" { charset = \"abc\" }\n", `line 2, column 1: unknown key "colour"`},
		{"too large", "length = 20 #" + strings.Repeat("x", MaxSize), "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse: %v, want ErrInvalid with %q", err, tt.want)
			}
		})
	}
}

// TestGenerateMeetsEveryRule: many passwords from several policies all meet their policy
// (length, charset, each rule's min-chars), and they differ.
func TestGenerateMeetsEveryRule(t *testing.T) {
	policies := []string{
		Default,
		"length = 4\nrule \"charset\" {\n charset = \"ab\"\n min-chars = 2\n}\nrule \"charset\" {\n charset = \"01\"\n min-chars = 2\n}\n",
		"length = 32\nrule \"charset\" {\n charset = \"äöü€\"\n min-chars = 5\n}\nrule \"charset\" { charset = \"xyz\" }\n",
	}
	for i, text := range policies {
		p, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for range 500 {
			pw, err := p.Generate()
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Check(pw); err != nil {
				t.Fatalf("%q does not meet its policy: %v", pw, err)
			}
			seen[pw] = true
		}
		if i != 1 && len(seen) < 400 { // policy 1 has only 96 passwords
			t.Fatalf("only %d distinct passwords in 500", len(seen))
		}
	}
	// Check itself catches a password that misses a rule.
	p, _ := Parse(Default)
	if err := p.Check("abcdefghijklmnopqrst"); err == nil {
		t.Fatal("Check accepted a password with no upper-case letter, digit or dash")
	}
}
