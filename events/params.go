package events

import (
	"errors"
	"net/url"
	"slices"
	"strings"
)

// ErrSecret is wrapped by the validation error of an event whose params hold a secret. NATS is
// no place for secrets: JetStream stores events on disk for StreamMaxAge and any operator may
// read the rejected subject. The active node erases such an event from the stream.
var ErrSecret = errors.New("secrets are not accepted in events: send them over the HTTP API")

// ConnUpdateParams are the only params a conn_update event may carry. None of them can change
// where the stored root credential is sent or what runs with it: connection_url, host, port,
// username, password, plugin_name and plugin_version name the database and the code that
// reaches it, and root_rotation_statements run with the root credential and the new password
// (a statement can ship it elsewhere), so they are changed over the HTTP API only.
var ConnUpdateParams = []string{
	"allowed_roles",
	"max_connection_lifetime",
	"max_idle_connections",
	"max_open_connections",
	"password_policy",
	"verify_connection",
}

// secretNames are substrings of param names that the database plugins (dbplugin's
// connection config, the PostgreSQL plugin's password, private_key and
// tls_* fields, OpenBao's secret-bearing settings) treat as secret.
var secretNames = []string{"password", "passwd", "secret", "private_key", "privatekey", "token", "credential", "tls_key", "client_key", "ssl_key", "sslkey", "sslpassword", "api_key", "apikey", "seed"}

// secretNameAllowed are names matching secretNames that carry no secret.
var secretNameAllowed = []string{"password_policy"}

// checkParams refuses params that hold a secret, for every kind, then params the kind does not
// take. Reasons name the param, never its value.
func checkParams(k Kind, p map[string]string) error {
	keys := make([]string, 0, len(p))
	for key := range p {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		if secretParam(key, p[key]) {
			return &ValidationError{Field: "params." + key, Reason: ErrSecret.Error(), secret: true}
		}
	}
	for _, key := range keys {
		switch {
		case k == KindConnUpdate && !slices.Contains(ConnUpdateParams, key):
			return invalid("params."+key, "conn_update cannot change %s over NATS (it could redirect the stored root credential); accepted: %s; change it over the HTTP API", key, strings.Join(ConnUpdateParams, ", "))
		case k != KindConnUpdate:
			return invalid("params."+key, "kind %s takes no parameters", k)
		}
	}
	return nil
}

// secretParam reports whether a param holds a secret by its name or its value.
func secretParam(name, value string) bool {
	n := strings.ToLower(name)
	if !slices.Contains(secretNameAllowed, n) {
		for _, s := range secretNames {
			if strings.Contains(n, s) {
				return true
			}
		}
	}
	return secretValue(value)
}

// secretValue reports whether a value looks like a secret: a PEM private key, or a URL or DSN
// carrying credentials (user:pass@ or a password query parameter).
func secretValue(v string) bool {
	l := strings.ToLower(v)
	if strings.Contains(l, "private key") || strings.Contains(l, "-----begin") {
		return true
	}
	// key=value DSNs ("host=db password=x") and URL queries ("?password=x", "&sslpassword=x").
	for _, s := range []string{"password=", "passwd=", "pwd=", "sslkey=", "secret="} {
		if strings.Contains(l, s) {
			return true
		}
	}
	if i := strings.Index(l, "://"); i >= 0 {
		rest := l[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			rest = rest[:j]
		}
		if strings.Contains(rest, "@") {
			return true
		}
		if u, err := url.Parse(v); err == nil {
			if _, ok := u.User.Password(); ok {
				return true
			}
		}
	}
	return false
}
