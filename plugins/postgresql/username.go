package postgresql

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

// defaultUsernameTemplate gives OpenBao's names: v-<display>-<role>-<random>-<unix time>,
// each part cut short, the whole at PostgreSQL's 63-byte limit for identifiers.
const defaultUsernameTemplate = `{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}`

// usernameFuncs are the functions OpenBao's username templates may call, so an operator's
// username_template works unchanged.
var usernameFuncs = template.FuncMap{
	"random":           randomAlphanumeric,
	"truncate":         truncate,
	"truncate_sha256":  truncateSHA256,
	"uppercase":        strings.ToUpper,
	"lowercase":        strings.ToLower,
	"replace":          func(find, repl, s string) string { return strings.ReplaceAll(s, find, repl) },
	"sha256":           func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
	"base64":           func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"unix_time":        func() string { return strconv.FormatInt(time.Now().Unix(), 10) },
	"unix_time_millis": func() string { return strconv.FormatInt(time.Now().UnixMilli(), 10) },
	"timestamp":        func(layout string) string { return time.Now().UTC().Format(layout) },
	"uuid":             newUUID,
}

// usernameTemplate makes user names from a role's metadata.
type usernameTemplate struct{ t *template.Template }

// newUsernameTemplate parses src (the default when empty) and tries it once, so a template
// that cannot run fails at Initialize rather than at the first NewUser.
func newUsernameTemplate(src string) (usernameTemplate, error) {
	if src == "" {
		src = defaultUsernameTemplate
	}
	t, err := template.New(keyUsernameTemplate).Funcs(usernameFuncs).Option("missingkey=error").Parse(src)
	if err != nil {
		return usernameTemplate{}, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, keyUsernameTemplate, err)
	}
	ut := usernameTemplate{t: t}
	// Empty metadata may well give an empty name: only a failure to run counts here.
	if _, err := ut.execute(dbplugin.UsernameMetadata{}); err != nil {
		return usernameTemplate{}, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, keyUsernameTemplate, err)
	}
	return ut, nil
}

func (u usernameTemplate) execute(md dbplugin.UsernameMetadata) (string, error) {
	var b strings.Builder
	if err := u.t.Execute(&b, md); err != nil {
		return "", fmt.Errorf("postgresql: generate username: %w", err)
	}
	return strings.TrimSpace(b.String()), nil
}

func (u usernameTemplate) generate(md dbplugin.UsernameMetadata) (string, error) {
	name, err := u.execute(md)
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", errors.New("postgresql: generate username: the username template produced an empty name")
	}
	return name, nil
}

// truncate keeps the first n bytes of s (argument order as in OpenBao: `s | truncate 8`).
func truncate(n int, s string) (string, error) {
	if n < 0 {
		return "", fmt.Errorf("truncate: negative length %d", n)
	}
	if len(s) <= n {
		return s, nil
	}
	return s[:n], nil
}

// truncateSHA256 shortens s to n bytes, ending it with 8 hex digits of the SHA-256 of the
// part cut off, so long names that share a prefix stay distinct.
func truncateSHA256(n int, s string) (string, error) {
	const hashLen = 8
	if n <= hashLen {
		return "", fmt.Errorf("truncate_sha256: length %d must exceed %d", n, hashLen)
	}
	if len(s) <= n {
		return s, nil
	}
	cut := n - hashLen
	h := sha256.Sum256([]byte(s[cut:]))
	return s[:cut] + hex.EncodeToString(h[:])[:hashLen], nil
}

const alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomAlphanumeric draws n characters uniformly from [A-Za-z0-9] (rejection sampling, so
// no character is likelier than another).
func randomAlphanumeric(n int) (string, error) {
	if n < 0 {
		return "", fmt.Errorf("random: negative length %d", n)
	}
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2+8)
	const limit = 256 - 256%len(alphanumeric)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphanumeric[int(b)%len(alphanumeric)])
			}
		}
	}
	return string(out), nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
