package events

import (
	"errors"
	"strings"
	"testing"
)

func connUpdate(params map[string]string) Event {
	return Event{V: Version, ID: "p-1", Kind: KindConnUpdate, Target: Target{Type: TargetConnection, ID: "database/pg"}, Params: params}
}

// Every param that holds a secret, by its name or by its value, is refused for every kind,
// with a reason that names the param and never echoes the value.
func TestSecretParamsRefused(t *testing.T) {
	const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----"
	tests := []struct {
		name  string
		key   string
		value string
	}{
		{"password", "password", "s3cr3t-value"},
		{"password any case", "Root_Password", "s3cr3t-value"},
		{"private key by name", "private_key", "abc"},
		{"private key by value", "note", pem},
		{"tls key", "tls_key", "abc"},
		{"token", "vault_token", "hvs.abc"},
		{"secret", "client_secret", "abc"},
		{"url with user:pass", "note", "postgres://root:s3cr3t-value@db.example:5432/app"},
		{"url with user:pass no path", "note", "postgres://root:s3cr3t-value@db.example"},
		{"url with password query", "note", "postgres://db.example/app?sslmode=disable&password=s3cr3t-value"},
		{"url with sslpassword query", "note", "postgres://db.example/app?sslpassword=s3cr3t-value"},
		{"dsn with password", "note", "host=db.example user=root password=s3cr3t-value"},
		{"connection_url with credentials", "connection_url", "postgres://{{username}}:s3cr3t-value@db.example/app"},
	}
	kinds := []Event{
		connUpdate(nil),
		{V: Version, ID: "p-2", Kind: KindRootRotate, Target: Target{Type: TargetConnection, ID: "database/pg"}},
		{V: Version, ID: "p-3", Kind: KindSeal},
	}
	for _, tt := range tests {
		for _, ev := range kinds {
			t.Run(tt.name+"/"+string(ev.Kind), func(t *testing.T) {
				ev.Params = map[string]string{tt.key: tt.value}
				err := ev.Validate()
				checkInvalid(t, err, "params."+tt.key, "secrets are not accepted in events: send them over the HTTP API")
				if !errors.Is(err, ErrSecret) {
					t.Errorf("%v does not wrap ErrSecret", err)
				}
				if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "MIIE") {
					t.Errorf("error echoes the value: %v", err)
				}
				// Encode refuses it too: nothing this package sends carries a secret.
				if _, err := Encode(ev); !errors.Is(err, ErrSecret) {
					t.Errorf("Encode: %v, want ErrSecret", err)
				}
			})
		}
	}
}

// conn_update takes only the allowlisted params; anything that could redirect the stored root
// credential (or is unknown) is refused by name, and it is not a secret refusal.
func TestConnUpdateAllowlist(t *testing.T) {
	for _, key := range ConnUpdateParams {
		t.Run("allowed "+key, func(t *testing.T) {
			if err := connUpdate(map[string]string{key: "5"}).Validate(); err != nil {
				t.Errorf("%s refused: %v", key, err)
			}
		})
	}
	refused := map[string]string{
		"connection_url":           "postgres://127.0.0.1:1/app",
		"host":                     "127.0.0.1",
		"port":                     "5433",
		"username":                 "root",
		"plugin_name":              "postgresql-database-plugin",
		"plugin_version":           "v1.0.0",
		"root_rotation_statements": "ALTER USER root PASSWORD '{{password}}'",
		"username_template":        "x",
		"sslrootcert":              "/tmp/ca.pem",
		"no_such_field":            "1",
	}
	for key, value := range refused {
		t.Run("refused "+key, func(t *testing.T) {
			err := connUpdate(map[string]string{key: value, "max_open_connections": "4"}).Validate()
			checkInvalid(t, err, "params."+key, "conn_update cannot change "+key+" over NATS")
			if errors.Is(err, ErrSecret) {
				t.Errorf("%v wraps ErrSecret; it holds no secret", err)
			}
		})
	}
	// password_policy names a policy, not a password.
	if err := connUpdate(map[string]string{"password_policy": "strong"}).Validate(); err != nil {
		t.Errorf("password_policy: %v", err)
	}
}

// Only conn_update takes params.
func TestParamsOnlyForConnUpdate(t *testing.T) {
	for _, k := range Kinds() {
		if k == KindConnUpdate {
			continue
		}
		rule, _ := ruleFor(k)
		ev := Event{V: Version, ID: "p-1", Kind: k, Params: map[string]string{"ttl": "1h"}}
		if !rule.untargeted {
			ev.Target = Target{Type: rule.targets[0], ID: "database/pg"}
		}
		checkInvalid(t, ev.Validate(), "params.ttl", "kind "+string(k)+" takes no parameters")
	}
}
