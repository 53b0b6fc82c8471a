package dbplugin

import (
	"reflect"
	"testing"
)

func TestQueryHelper(t *testing.T) {
	data := map[string]string{
		"name":       "v-role-abc",
		"username":   "v-role-abc",
		"password":   "p{{name}}w;d",
		"expiration": "2030-01-01 00:00:00+0000",
	}
	tests := []struct {
		name string
		tpl  string
		data map[string]string
		want string
	}{
		{"create role", `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`, data,
			`CREATE ROLE "v-role-abc" WITH LOGIN PASSWORD 'p{{name}}w;d' VALID UNTIL '2030-01-01 00:00:00+0000';`},
		{"repeated", `{{username}} {{username}}`, data, `v-role-abc v-role-abc`},
		{"unknown placeholder kept", `{{name}} {{other}}`, data, `v-role-abc {{other}}`},
		{"spaces are not trimmed", `{{ name }}`, data, `{{ name }}`},
		{"no data", `{{name}}`, nil, `{{name}}`},
		{"empty value", `a{{x}}b`, map[string]string{"x": ""}, `ab`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QueryHelper(tt.tpl, tt.data); got != tt.want {
				t.Errorf("QueryHelper = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSplitSQL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"only separators", " ; ;\n; ", nil},
		{"one without semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"trims and drops empties", "  CREATE ROLE a ;\n\n GRANT x TO a;;", []string{"CREATE ROLE a", "GRANT x TO a"}},
		{"single quotes", `ALTER ROLE a PASSWORD 'x;y'; SELECT 1`, []string{`ALTER ROLE a PASSWORD 'x;y'`, "SELECT 1"}},
		{"doubled quote", `SELECT 'it''s; fine'; SELECT 2`, []string{`SELECT 'it''s; fine'`, "SELECT 2"}},
		{"quoted identifier", `CREATE ROLE "a;b"; SELECT 1`, []string{`CREATE ROLE "a;b"`, "SELECT 1"}},
		{"dollar quoted", "DO $$ BEGIN PERFORM 1; PERFORM 2; END $$; SELECT 3", []string{"DO $$ BEGIN PERFORM 1; PERFORM 2; END $$", "SELECT 3"}},
		{"tagged dollar quote", "DO $body$ BEGIN x; $$ y; END $body$; SELECT 4", []string{"DO $body$ BEGIN x; $$ y; END $body$", "SELECT 4"}},
		{"parameters are not quotes", "SELECT $1; SELECT $2", []string{"SELECT $1", "SELECT $2"}},
		{"dollar inside identifier", "SELECT a$b; SELECT 5", []string{"SELECT a$b", "SELECT 5"}},
		{"line comment", "SELECT 1 -- a; b\n; SELECT 2", []string{"SELECT 1 -- a; b", "SELECT 2"}},
		{"block comment", "SELECT /* ; */ 1; SELECT 2", []string{"SELECT /* ; */ 1", "SELECT 2"}},
		{"unterminated quote keeps the rest", "SELECT 'a; b", []string{"SELECT 'a; b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitSQL(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitSQL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
