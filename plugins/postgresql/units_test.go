package postgresql

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

func TestParseConfig(t *testing.T) {
	base := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{"connection_url": "postgres://{{username}}:{{password}}@h/db"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		raw     map[string]interface{}
		want    func(config) bool
		wantErr bool
	}{
		{"defaults", base(), func(c config) bool {
			return c.maxOpen == 4 && c.maxIdle == 4 && c.maxLifetime == 0 && c.passwordAuth == "password"
		}, false},
		{"numbers from a protobuf Struct", base("max_open_connections", float64(10), "max_idle_connections", float64(3)),
			func(c config) bool { return c.maxOpen == 10 && c.maxIdle == 3 }, false},
		{"numbers from JSON and strings", base("max_open_connections", json.Number("7"), "max_idle_connections", "2"),
			func(c config) bool { return c.maxOpen == 7 && c.maxIdle == 2 }, false},
		{"idle capped at open", base("max_open_connections", 2, "max_idle_connections", 9),
			func(c config) bool { return c.maxIdle == 2 }, false},
		{"lifetime in seconds", base("max_connection_lifetime", float64(90)),
			func(c config) bool { return c.maxLifetime == 90*time.Second && c.maxLifetimeWasSet }, false},
		{"lifetime with a unit", base("max_connection_lifetime", "5m"),
			func(c config) bool { return c.maxLifetime == 5*time.Minute }, false},
		{"lifetime as a string of seconds", base("max_connection_lifetime", "30"),
			func(c config) bool { return c.maxLifetime == 30*time.Second }, false},
		{"disable_escaping", base("disable_escaping", "true"), func(c config) bool { return c.disableEscaping }, false},
		{"scram", base("password_authentication", "scram-sha-256"), func(c config) bool { return c.passwordAuth == "scram-sha-256" }, false},
		{"empty url", map[string]interface{}{"connection_url": " "}, nil, true},
		{"url not a string", map[string]interface{}{"connection_url": 3}, nil, true},
		{"fractional pool size", base("max_open_connections", 2.5), nil, true},
		{"negative pool size", base("max_open_connections", -1), nil, true},
		{"bad lifetime", base("max_connection_lifetime", "soon"), nil, true},
		{"negative lifetime", base("max_connection_lifetime", "-1s"), nil, true},
		{"unknown auth", base("password_authentication", "md5"), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.raw)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil || !tc.want(c) {
				t.Fatalf("parseConfig = %+v, %v", c, err)
			}
		})
	}
}

func TestPoolConfigCredentials(t *testing.T) {
	for _, tc := range []struct {
		name               string
		url, user, pw      string
		disableEscaping    bool
		wantUser, wantPass string
	}{
		{"templated, escaped", "postgres://{{username}}:{{password}}@h:5432/db", "ro@ot", "p@ss/w:rd?#", false, "ro@ot", "p@ss/w:rd?#"},
		{"key/value form, escaping disabled", "host=h user={{username}} password={{password}} dbname=db", "root", "plain", true, "root", "plain"},
		{"literal credentials", "postgres://lit:litpw@h/db", "", "", false, "lit", "litpw"},
		{"password key wins over a literal one", "postgres://lit:stale@h/db", "", "rotated", false, "lit", "rotated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(map[string]interface{}{
				"connection_url": tc.url, "username": tc.user, "password": tc.pw, "disable_escaping": tc.disableEscaping,
			})
			if err != nil {
				t.Fatal(err)
			}
			pc, _, err := c.poolConfig()
			if err != nil {
				t.Fatal(err)
			}
			if pc.ConnConfig.User != tc.wantUser || pc.ConnConfig.Password != tc.wantPass || pc.MaxConns != 4 {
				t.Fatalf("user %q password %q max %d; want %q %q 4", pc.ConnConfig.User, pc.ConnConfig.Password, pc.MaxConns, tc.wantUser, tc.wantPass)
			}
		})
	}
}

func TestUsernameTemplate(t *testing.T) {
	md := dbplugin.UsernameMetadata{DisplayName: "token-with-a-long-name", RoleName: "readonly-role-long"}
	def, err := newUsernameTemplate("")
	if err != nil {
		t.Fatal(err)
	}
	name, err := def.generate(md)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^v-token-wi-readonly-[A-Za-z0-9]{20}-\d{10}$`).MatchString(name) {
		t.Fatalf("default username %q", name)
	}
	other, _ := def.generate(md)
	if other == name {
		t.Fatalf("two usernames alike: %q", name)
	}

	for _, tc := range []struct {
		tpl, want string
	}{
		{`{{ .RoleName | uppercase }}`, "READONLY-ROLE-LONG"},
		{`{{ .DisplayName | replace "-" "_" | lowercase }}`, "token_with_a_long_name"},
		{`{{ .DisplayName | truncate_sha256 12 }}`, "toke" + "c4d1fc36"},
		{`{{ .RoleName | truncate 4 }}`, "read"},
		{`{{ printf "%s" .RoleName | sha256 | truncate 8 }}`, "8c06c5a1"},
		{`{{ "ab" | base64 }}`, "YWI="},
	} {
		ut, err := newUsernameTemplate(tc.tpl)
		if err != nil {
			t.Fatalf("%s: %v", tc.tpl, err)
		}
		got, err := ut.generate(md)
		if err != nil {
			t.Fatalf("%s: %v", tc.tpl, err)
		}
		if tc.tpl == `{{ .DisplayName | truncate_sha256 12 }}` || strings.Contains(tc.tpl, "sha256 |") {
			if len(got) != len(tc.want) {
				t.Fatalf("%s = %q, want the length of %q", tc.tpl, got, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Fatalf("%s = %q, want %q", tc.tpl, got, tc.want)
		}
	}

	for _, tpl := range []string{`{{ .Nope }}`, `{{ random -1 }}`, `{{ unclosed`} {
		if _, err := newUsernameTemplate(tpl); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("template %q: err = %v, want ErrInvalidConfig", tpl, err)
		}
	}
	// A template that gives an empty name for some role is accepted, but never creates "".
	empty, err := newUsernameTemplate(`{{ .RoleName }}`)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := empty.generate(dbplugin.UsernameMetadata{}); err == nil {
		t.Fatalf("empty username %q accepted", name)
	}
	u, err := newUUID()
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(u) {
		t.Fatalf("uuid %q, %v", u, err)
	}
}

func TestFormatExpiration(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 2*3600))
	if got := formatExpiration(at); got != "2030-01-02 03:04:05+0200" {
		t.Fatalf("formatExpiration = %q", got)
	}
	if got := formatExpiration(time.Time{}); got != "infinity" {
		t.Fatalf("zero expiration = %q", got)
	}
}

func TestScrub(t *testing.T) {
	base := errors.New("near \"s3cret\": syntax error")
	err := scrub(base, "s3cret")
	if strings.Contains(err.Error(), "s3cret") || !errors.Is(err, base) {
		t.Fatalf("scrub = %v (Is base: %v)", err, errors.Is(err, base))
	}
	if scrub(base, "absent") != base {
		t.Fatalf("scrub rewrote an error without the secret")
	}
}
