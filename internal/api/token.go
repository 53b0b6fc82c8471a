package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/baton-hq/baton/internal/auth"
)

// The token store's endpoints (auth/token/*) with OpenBao's paths and JSON shapes, and
// sys/generate-root. Each handler parses, calls one method of Tokens or RootGenerator, and
// writes OpenBao's reply.

// token serves auth/token/<rest> except the -self endpoints (tokenSelf).
func (s *Server) token(w http.ResponseWriter, r *http.Request, rest string) error {
	if s.tokens == nil {
		return errStatus(http.StatusNotFound, "this node has no token store")
	}
	op, arg, _ := strings.Cut(strings.Trim(rest, "/"), "/")
	if op == "accessors" {
		if err := requireMethod(r, "LIST"); err != nil {
			return err
		}
		keys, err := s.tokens.ListAccessors()
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(map[string]any{"keys": keys}))
		return nil
	}
	if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
		if !(op == "lookup" && r.Method == http.MethodGet) {
			return err
		}
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	p := params(b)
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	// The token or accessor operated on: in the body, or (OpenBao's older form) in the path.
	field := func(k string) (string, error) {
		v, err := p.str(k)
		if err != nil || v != "" {
			return v, err
		}
		if arg != "" {
			return arg, nil
		}
		return "", errStatus(http.StatusBadRequest, "missing %s", k)
	}
	switch op {
	case "create", "create-orphan":
		if arg != "" {
			return errStatus(http.StatusNotFound, "token roles are not supported: use auth/token/create")
		}
		req, err := createRequest(p)
		if err != nil {
			return err
		}
		req.Orphan = op == "create-orphan"
		caller, _ := auth.IdentityFrom(r.Context())
		a, err := s.tokens.Create(ctx, caller, req)
		if err != nil {
			return err
		}
		writeAuth(w, a)
		return nil
	case "lookup":
		tok, err := field("token")
		if err != nil {
			return err
		}
		info, err := s.tokens.Lookup(tok)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(lookupData(info)))
		return nil
	case "lookup-accessor":
		acc, err := field("accessor")
		if err != nil {
			return err
		}
		info, err := s.tokens.LookupAccessor(acc)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(lookupData(info)))
		return nil
	case "renew":
		tok, err := field("token")
		if err != nil {
			return err
		}
		inc, _, err := p.duration("increment")
		if err != nil {
			return err
		}
		a, err := s.tokens.Renew(ctx, tok, inc)
		if err != nil {
			return err
		}
		writeAuth(w, a)
		return nil
	case "revoke", "revoke-orphan":
		tok, err := field("token")
		if err != nil {
			return err
		}
		if op == "revoke" {
			err = s.tokens.Revoke(ctx, tok)
		} else {
			err = s.tokens.RevokeOrphan(ctx, tok)
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case "revoke-accessor":
		acc, err := field("accessor")
		if err != nil {
			return err
		}
		if err := s.tokens.RevokeAccessor(ctx, acc); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return errStatus(http.StatusNotFound, "no handler for route \"auth/token/%s\"", rest)
}

// tokenSelf serves lookup-self, renew-self and revoke-self on the caller's own token.
func (s *Server) tokenSelf(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.tokens == nil {
		return errStatus(http.StatusNotFound, "this node has no token store")
	}
	tok := requestToken(r)
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch {
	case strings.HasSuffix(r.URL.Path, "/lookup-self"):
		if err := requireMethod(r, http.MethodGet, http.MethodPost, http.MethodPut); err != nil {
			return err
		}
		info, err := s.tokens.Lookup(tok)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(lookupData(info)))
		return nil
	case strings.HasSuffix(r.URL.Path, "/renew-self"):
		if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
			return err
		}
		b, err := body(r)
		if err != nil {
			return err
		}
		inc, _, err := params(b).duration("increment")
		if err != nil {
			return err
		}
		a, err := s.tokens.Renew(ctx, tok, inc)
		if err != nil {
			return err
		}
		writeAuth(w, a)
		return nil
	case strings.HasSuffix(r.URL.Path, "/revoke-self"):
		if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
			return err
		}
		if err := s.tokens.Revoke(ctx, tok); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return errStatus(http.StatusNotFound, "no handler for route %q", r.URL.Path)
}

// createKeys are the fields auth/token/create takes.
var createKeys = []string{"policies", "no_default_policy", "ttl", "explicit_max_ttl", "period", "renewable",
	"num_uses", "no_parent", "display_name", "meta", "type", "entity_alias"}

// createRequest reads auth/token/create's fields; a field of the wrong type is a 400 naming it.
func createRequest(p params) (auth.CreateRequest, error) {
	var req auth.CreateRequest
	var err error
	if req.Policies, err = p.list("policies"); err != nil {
		return req, err
	}
	for _, f := range []struct {
		k string
		d *time.Duration
	}{{"ttl", &req.TTL}, {"explicit_max_ttl", &req.ExplicitMaxTTL}, {"period", &req.Period}} {
		if *f.d, _, err = p.duration(f.k); err != nil {
			return req, err
		}
	}
	for _, f := range []struct {
		k string
		b *bool
	}{{"no_default_policy", &req.NoDefaultPolicy}, {"no_parent", &req.NoParent}} {
		v, err := p.boolean(f.k)
		if err != nil {
			return req, err
		}
		if v != nil {
			*f.b = *v
		}
	}
	if req.Renewable, err = p.boolean("renewable"); err != nil {
		return req, err
	}
	uses, err := p.str("num_uses")
	if err != nil {
		return req, err
	}
	if uses != "" {
		n, err := strconv.Atoi(uses)
		if err != nil || n < 0 {
			return req, errStatus(http.StatusBadRequest, "num_uses must be a whole number from 0, not %q", uses)
		}
		req.NumUses = n
	}
	if req.DisplayName, err = p.str("display_name"); err != nil {
		return req, err
	}
	if t, err := p.str("type"); err != nil || (t != "" && t != "service" && t != "default") {
		return req, errStatus(http.StatusBadRequest, "type: only service tokens are supported")
	}
	// OpenBao's Go client always sends entity_alias, empty unless asked; OpenBao takes one only
	// with a token role, which Baton does not have.
	if ea, err := p.str("entity_alias"); err != nil || ea != "" {
		return req, errStatus(http.StatusBadRequest, "entity_alias: only valid with a token role, which Baton does not have")
	}
	if m, ok := p["meta"]; ok && m != nil {
		mm, ok := m.(map[string]any)
		if !ok {
			return req, errStatus(http.StatusBadRequest, "meta must be an object of strings")
		}
		req.Meta = make(map[string]string, len(mm))
		for k, v := range mm {
			s, ok := v.(string)
			if !ok {
				return req, errStatus(http.StatusBadRequest, "meta[%q] must be a string", k)
			}
			req.Meta[k] = s
		}
	}
	if ig := p.ignored(createKeys...); len(ig) > 0 {
		return req, errStatus(http.StatusBadRequest, "auth/token/create does not take %s", strings.Join(ig, ", "))
	}
	return req, nil
}

// writeAuth answers a create or renew with OpenBao's auth block.
func writeAuth(w http.ResponseWriter, a auth.Auth) {
	reply := data(nil)
	var meta any
	if a.Metadata != nil {
		meta = a.Metadata
	}
	reply["auth"] = map[string]any{
		"client_token": a.ClientToken, "accessor": a.Accessor, "policies": a.Policies, "token_policies": a.TokenPolicies,
		"identity_policies": nil, "metadata": meta, "lease_duration": fmtSeconds(a.LeaseDuration), "renewable": a.Renewable,
		"entity_id": "", "token_type": "service", "orphan": a.Orphan, "mfa_requirement": nil, "num_uses": a.NumUses,
	}
	writeJSON(w, http.StatusOK, reply)
}

// lookupData is a token lookup's data, OpenBao's fields.
func lookupData(t auth.TokenInfo) map[string]any {
	var expire any
	if !t.ExpireTime.IsZero() {
		expire = t.ExpireTime.UTC().Format(time.RFC3339Nano)
	}
	var meta any
	if t.Meta != nil {
		meta = t.Meta
	}
	out := map[string]any{
		"accessor": t.Accessor, "creation_time": t.CreationTime.Unix(), "creation_ttl": fmtSeconds(t.CreationTTL),
		"display_name": t.DisplayName, "entity_id": "", "expire_time": expire, "explicit_max_ttl": fmtSeconds(t.ExplicitMaxTTL),
		"id": t.ID, "issue_time": t.CreationTime.UTC().Format(time.RFC3339Nano), "meta": meta, "num_uses": t.NumUses,
		"orphan": t.Orphan, "path": t.Path, "policies": t.Policies, "renewable": t.Renewable, "ttl": fmtSeconds(t.TTL),
		"type": "service",
	}
	if t.Period > 0 {
		out["period"] = fmtSeconds(t.Period)
	}
	return out
}
