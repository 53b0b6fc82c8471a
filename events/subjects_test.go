package events

import (
	"strings"
	"testing"
)

func TestSubjects(t *testing.T) {
	tests := []struct{ got, want string }{
		{EventSubject("prod", KindSeal), "baton.prod.events.seal"},
		{EventsWildcard("prod"), "baton.prod.events.>"},
		{RejectedSubject("prod"), "baton.prod.rejected"},
		{InjectSubject("prod"), "baton.prod.inject"},
		{TransitionSubject("prod", TransitionConnection, "database/config/pg.main"), "baton.prod.transitions.connection.database/config/pg%2Emain"},
		{TransitionsWildcard("prod"), "baton.prod.transitions.>"},
		{StreamName("prod-eu_1"), "BATON_PROD-EU_1_EVENTS"},
		{ConsumerName("prod"), "baton-prod-active"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestKindFromSubject(t *testing.T) {
	tests := []struct {
		subject string
		kind    Kind
		ok      bool
	}{
		{"baton.c.events.seal", KindSeal, true},
		{"baton.c.events.anything", "anything", true},
		{"baton.c.events.seal.extra", "", false},
		{"baton.c.events.", "", false},
		{"baton.other.events.seal", "", false},
	}
	for _, tt := range tests {
		k, ok := kindFromSubject("c", tt.subject)
		if k != tt.kind || ok != tt.ok {
			t.Errorf("kindFromSubject(%q) = %q, %v; want %q, %v", tt.subject, k, ok, tt.kind, tt.ok)
		}
	}
}

func TestEscapeToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"pg", "pg"},
		{"database/", "database/"},
		{"pg.main", "pg%2Emain"},
		{"a b*>", "a%20b%2A%3E"},
		{"100%", "100%25"},
		{"\t", "%09"},
		{"é", "%C3%A9"},
		{"", "%"},
		{"$SYS", "%24SYS"},
	}
	for _, tt := range tests {
		got := EscapeToken(tt.in)
		if got != tt.want {
			t.Errorf("EscapeToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.ContainsAny(got, ".*> \t\r\n") {
			t.Errorf("EscapeToken(%q) = %q is not one subject token", tt.in, got)
		}
		back, err := UnescapeToken(got)
		if err != nil || back != tt.in {
			t.Errorf("UnescapeToken(%q) = %q, %v; want %q", got, back, err, tt.in)
		}
	}
	for _, bad := range []string{"a.b", "%2", "%zz", "%2e", "a b"} {
		if _, err := UnescapeToken(bad); err == nil {
			t.Errorf("UnescapeToken(%q): no error", bad)
		}
	}
}

func FuzzEscapeToken(f *testing.F) {
	for _, s := range []string{"", "pg.main", "a b", "%", "database/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok := EscapeToken(s)
		if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n\x00") {
			t.Fatalf("EscapeToken(%q) = %q", s, tok)
		}
		back, err := UnescapeToken(tok)
		if err != nil || back != s {
			t.Fatalf("UnescapeToken(EscapeToken(%q)) = %q, %v", s, back, err)
		}
	})
}

func TestValidateCluster(t *testing.T) {
	for _, ok := range []string{"prod", "prod-eu_1", "A"} {
		if err := ValidateCluster(ok); err != nil {
			t.Errorf("ValidateCluster(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a.b", "a b", "a*", "a>", strings.Repeat("c", MaxClusterLen+1), "a/b"} {
		if err := ValidateCluster(bad); err == nil {
			t.Errorf("ValidateCluster(%q): no error", bad)
		}
	}
}
