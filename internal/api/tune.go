package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/baton-hq/baton/plugins/database"
)

// tuneKeys are the fields OpenBao's sys/mounts/:path/tune takes. Baton acts on the lease TTLs
// and the description; OpenBao's client sends the others on every tune (empty), so they are
// accepted without a warning unless they carry a value Baton would have to act on.
var tuneKeys = []string{"default_lease_ttl", "max_lease_ttl", "description", "options", "force_no_cache",
	"audit_non_hmac_request_keys", "audit_non_hmac_response_keys", "listing_visibility",
	"passthrough_request_headers", "allowed_response_headers", "token_type", "allowed_managed_keys",
	"plugin_version", "user_lockout_config", "delegated_auth_accessors", "identity_token_key"}

// mountTune serves GET and POST sys/mounts/:path/tune in OpenBao's shapes: the read answers
// the TTLs in effect in seconds (the system's when the mount has none of its own); a write
// takes durations as strings ("1h") or seconds, "" to leave a TTL as it is and "system" to
// go back to the system's.
func (s *Server) mountTune(w http.ResponseWriter, r *http.Request, path string) error {
	switch r.Method {
	case http.MethodGet:
		m, t, err := s.secrets.ReadMountTTLs(path)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(map[string]any{
			"description": m.Description, "default_lease_ttl": fmtSeconds(t.EffectiveDefault),
			"max_lease_ttl": fmtSeconds(t.EffectiveMax), "force_no_cache": false, "options": map[string]any{}}))
		return nil
	case http.MethodPost, http.MethodPut:
		b, err := body(r)
		if err != nil {
			return err
		}
		p := params(b)
		var t database.Tune
		for k, dst := range map[string]**time.Duration{"default_lease_ttl": &t.DefaultLeaseTTL, "max_lease_ttl": &t.MaxLeaseTTL} {
			d, err := tuneTTL(p, k)
			if err != nil {
				return err
			}
			*dst = d
		}
		if p.has("description") {
			d, err := p.str("description")
			if err != nil {
				return err
			}
			t.Description = &d
		}
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		if err := s.secrets.TuneMount(ctx, path, t); err != nil {
			return err
		}
		writeDone(w, append(p.ignored(tuneKeys...), tuneIgnoredValues(p)...))
		return nil
	}
	return requireMethod(r, http.MethodGet, http.MethodPost)
}

// tuneTTL reads one TTL of a tune: nil when absent or "" (unchanged), zero for "system".
func tuneTTL(p params, k string) (*time.Duration, error) {
	if s, ok := p[k].(string); ok {
		switch strings.TrimSpace(s) {
		case "":
			return nil, nil
		case "system":
			zero := time.Duration(0)
			return &zero, nil
		}
	}
	d, ok, err := p.duration(k)
	if err != nil || !ok {
		return nil, err
	}
	return &d, nil
}

// tuneIgnoredValues names the OpenBao tune fields that were given a value Baton does not act on.
func tuneIgnoredValues(p params) []string {
	var out []string
	for _, k := range tuneKeys[3:] {
		switch v := p[k].(type) {
		case nil:
		case string:
			if v != "" {
				out = append(out, k)
			}
		case bool:
			if v {
				out = append(out, k)
			}
		case []any:
			if len(v) > 0 {
				out = append(out, k)
			}
		case map[string]any:
			if len(v) > 0 {
				out = append(out, k)
			}
		default:
			out = append(out, k)
		}
	}
	return out
}

// mountConfigTTLs reads the lease TTLs of a mount's "config" (what `bao secrets enable
// -default-lease-ttl … -max-lease-ttl …` sends), with tune's rules: "" or "system" is the
// system's, otherwise a duration string or seconds.
func mountConfigTTLs(p params, m *database.Mount) error {
	raw, ok := p["config"]
	if !ok || raw == nil {
		return nil
	}
	cfg, ok := raw.(map[string]any)
	if !ok {
		return errStatus(http.StatusBadRequest, "config must be an object, such as {\"max_lease_ttl\": \"1h\"}")
	}
	for k, dst := range map[string]*time.Duration{"default_lease_ttl": &m.DefaultLeaseTTL, "max_lease_ttl": &m.MaxLeaseTTL} {
		d, err := tuneTTL(params(cfg), k)
		if err != nil {
			return errStatus(http.StatusBadRequest, "config.%v", err)
		}
		if d != nil {
			*dst = *d
		}
	}
	return nil
}
