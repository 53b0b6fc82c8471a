package postgresql

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

// Configuration keys, spelled as OpenBao's database engine spells them.
const (
	keyConnectionURL          = "connection_url"
	keyUsername               = "username"
	keyPassword               = "password"
	keyMaxOpenConnections     = "max_open_connections"
	keyMaxIdleConnections     = "max_idle_connections"
	keyMaxConnectionLifetime  = "max_connection_lifetime"
	keyUsernameTemplate       = "username_template"
	keyPasswordAuthentication = "password_authentication"
	keyDisableEscaping        = "disable_escaping"
)

// defaultMaxOpenConnections is OpenBao's default pool size for SQL databases.
const defaultMaxOpenConnections = 4

// Values of password_authentication.
const (
	passwordAuthPassword = "password"
	passwordAuthSCRAM    = "scram-sha-256"
)

// ErrInvalidConfig wraps every configuration error, so a caller can tell a bad configuration
// from a database that cannot be reached.
var ErrInvalidConfig = errors.New("postgresql: invalid configuration")

// config is the parsed connection configuration. password changes when the root user's own
// password is rotated through UpdateUser.
type config struct {
	connectionURL     string // template with {{username}} and {{password}}
	username          string
	password          string
	maxOpen           int
	maxIdle           int
	maxLifetime       time.Duration
	usernameTemplate  string
	passwordAuth      string
	disableEscaping   bool
	maxLifetimeWasSet bool
}

// parseConfig reads the operator's settings. Messages name keys, never values: a value may
// be a secret.
func parseConfig(raw map[string]interface{}) (config, error) {
	var c config
	var err error
	get := func(key string, parse func(key string, v interface{}) error) {
		if err != nil {
			return
		}
		if v, ok := raw[key]; ok && v != nil {
			err = parse(key, v)
		}
	}
	get(keyConnectionURL, stringInto(&c.connectionURL))
	get(keyUsername, stringInto(&c.username))
	get(keyPassword, stringInto(&c.password))
	get(keyUsernameTemplate, stringInto(&c.usernameTemplate))
	get(keyPasswordAuthentication, stringInto(&c.passwordAuth))
	get(keyMaxOpenConnections, intInto(&c.maxOpen))
	get(keyMaxIdleConnections, intInto(&c.maxIdle))
	get(keyMaxConnectionLifetime, func(key string, v interface{}) error {
		c.maxLifetimeWasSet = true
		c.maxLifetime, err = parseDurationSecond(key, v)
		return err
	})
	get(keyDisableEscaping, boolInto(&c.disableEscaping))
	if err != nil {
		return config{}, err
	}

	if strings.TrimSpace(c.connectionURL) == "" {
		return config{}, fmt.Errorf("%w: %s cannot be empty", ErrInvalidConfig, keyConnectionURL)
	}
	switch {
	case c.maxOpen < 0:
		return config{}, fmt.Errorf("%w: %s cannot be negative", ErrInvalidConfig, keyMaxOpenConnections)
	case c.maxOpen == 0:
		c.maxOpen = defaultMaxOpenConnections
	}
	switch {
	case c.maxIdle < 0:
		return config{}, fmt.Errorf("%w: %s cannot be negative", ErrInvalidConfig, keyMaxIdleConnections)
	case c.maxIdle == 0 || c.maxIdle > c.maxOpen:
		c.maxIdle = c.maxOpen
	}
	if c.maxLifetime < 0 {
		return config{}, fmt.Errorf("%w: %s cannot be negative", ErrInvalidConfig, keyMaxConnectionLifetime)
	}
	switch c.passwordAuth {
	case "":
		c.passwordAuth = passwordAuthPassword
	case passwordAuthPassword, passwordAuthSCRAM:
	default:
		return config{}, fmt.Errorf("%w: %s must be %q or %q", ErrInvalidConfig,
			keyPasswordAuthentication, passwordAuthPassword, passwordAuthSCRAM)
	}
	return c, nil
}

// poolConfig renders connection_url and builds the pool's settings. As in OpenBao, the
// username and password are escaped into the template unless disable_escaping is set (as
// URL user information: OpenBao's path escaping leaves '@' and ':' as they are, which
// breaks the URL);
// the password is then also set on the parsed configuration, so a rotated password or one
// with characters a DSN cannot hold still reaches the server intact. It returns the
// rendered URL too, which holds credentials.
func (c config) poolConfig() (*pgxpool.Config, string, error) {
	user, pw := c.username, c.password
	if !c.disableEscaping {
		user, pw = escapeUser(user), escapePassword(pw)
	}
	rendered := dbplugin.QueryHelper(c.connectionURL, map[string]string{"username": user, "password": pw})
	pc, err := pgxpool.ParseConfig(rendered)
	if err != nil {
		return nil, rendered, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, keyConnectionURL, err)
	}
	if c.password != "" {
		pc.ConnConfig.Password = c.password
	}
	if c.username != "" && strings.Contains(c.connectionURL, "{{username}}") {
		pc.ConnConfig.User = c.username
	}
	pc.MaxConns = int32(min(c.maxOpen, math.MaxInt32))
	if c.maxLifetimeWasSet {
		// Zero means no limit, as in OpenBao; pgxpool reads zero the same way.
		pc.MaxConnLifetime = c.maxLifetime
		pc.MaxConnLifetimeJitter = 0
	}
	return pc, rendered, nil
}

// escapeUser and escapePassword write a URL's user information as net/url does.
func escapeUser(u string) string { return url.User(u).String() }

func escapePassword(pw string) string {
	return strings.TrimPrefix(url.UserPassword("", pw).String(), ":")
}

func stringInto(dst *string) func(string, interface{}) error {
	return func(key string, v interface{}) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%w: %s must be a string", ErrInvalidConfig, key)
		}
		*dst = s
		return nil
	}
}

// intInto accepts the forms a number takes on its way from an operator: a protobuf Struct's
// float64, a JSON number, a Go integer or a decimal string.
func intInto(dst *int) func(string, interface{}) error {
	return func(key string, v interface{}) error {
		bad := fmt.Errorf("%w: %s must be a whole number", ErrInvalidConfig, key)
		switch n := v.(type) {
		case int:
			*dst = n
		case int32:
			*dst = int(n)
		case int64:
			*dst = int(n)
		case float64:
			if n != math.Trunc(n) || math.Abs(n) > math.MaxInt32 {
				return bad
			}
			*dst = int(n)
		case json.Number:
			i, err := strconv.Atoi(n.String())
			if err != nil {
				return bad
			}
			*dst = i
		case string:
			if n == "" {
				return nil
			}
			i, err := strconv.Atoi(n)
			if err != nil {
				return bad
			}
			*dst = i
		default:
			return bad
		}
		return nil
	}
}

func boolInto(dst *bool) func(string, interface{}) error {
	return func(key string, v interface{}) error {
		switch b := v.(type) {
		case bool:
			*dst = b
		case string:
			parsed, err := strconv.ParseBool(b)
			if err != nil {
				return fmt.Errorf("%w: %s must be true or false", ErrInvalidConfig, key)
			}
			*dst = parsed
		default:
			return fmt.Errorf("%w: %s must be true or false", ErrInvalidConfig, key)
		}
		return nil
	}
}

// parseDurationSecond reads a duration as OpenBao does: a bare number is seconds, a string
// may also carry a unit ("30s", "5m").
func parseDurationSecond(key string, v interface{}) (time.Duration, error) {
	bad := fmt.Errorf("%w: %s must be a duration (\"30s\") or a number of seconds", ErrInvalidConfig, key)
	if s, ok := v.(string); ok {
		if s == "" {
			return 0, nil
		}
		if d, err := time.ParseDuration(s); err == nil {
			return d, nil
		}
		secs, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, bad
		}
		return time.Duration(secs) * time.Second, nil
	}
	var secs int
	if err := intInto(&secs)(key, v); err != nil {
		return 0, bad
	}
	return time.Duration(secs) * time.Second, nil
}
