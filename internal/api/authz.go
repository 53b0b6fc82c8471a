package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/plugins/database"
)

// Authorizer is the one authoriser as the API asks it: may this token do this operation on
// this path, and who is it. internal/server wires *auth.Authorizer into it; the tests use one
// over a fake token store.
type Authorizer interface {
	// Authorize fails with an error wrapping auth.ErrPermissionDenied when the token may not.
	Authorize(ctx context.Context, token string, req acl.Request) (auth.Identity, error)
	// AuthorizeWrite is Authorize for a write on a path with OpenBao's existence check:
	// update, or create when exists (asked only for a known, non-root token) says false.
	AuthorizeWrite(ctx context.Context, token string, req acl.Request, exists func() bool) (auth.Identity, error)
	// Capabilities lists what a token's policies grant on each path (sys/capabilities).
	Capabilities(ctx context.Context, token string, paths []string) (map[string][]string, error)
}

// requestToken is the client token: X-Vault-Token, else an "Authorization: Bearer" header,
// as OpenBao reads it.
func requestToken(r *http.Request) string {
	if tok := r.Header.Get(TokenHeader); tok != "" {
		return tok
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	return ""
}

// authorize decides an authenticated route's request with the authoriser and returns the
// request's context carrying the admitted identity. p is the path after /v1/, which is what
// policies name. A refusal wraps auth.ErrPermissionDenied: 403 "permission denied", and the
// handler never runs.
func (s *Server) authorize(r *http.Request, p string) (context.Context, error) {
	op, err := s.operation(r, p)
	if err != nil {
		return nil, err
	}
	var d map[string]any
	if !rawBodyPaths[p] {
		if d, err = requestData(r, op); err != nil {
			return nil, err
		}
	}
	req := acl.Request{Operation: op, Path: p, Data: d}
	var id auth.Identity
	if op == acl.OpUpdate && s.hasExistenceCheck(p) {
		id, err = s.authz.AuthorizeWrite(r.Context(), requestToken(r), req, func() bool { return s.exists(p) })
	} else {
		id, err = s.authz.Authorize(r.Context(), requestToken(r), req)
	}
	if err != nil {
		var de *auth.DeniedError
		if errors.As(err, &de) {
			s.log.Debug("request refused", "method", r.Method, "path", p, "reason", de.Reason)
		}
		return nil, err
	}
	return auth.WithIdentity(r.Context(), id), nil
}

// operation maps an HTTP method to OpenBao's logical operation: GET read, LIST (or GET with
// ?list=true, already turned into LIST) list, DELETE delete, PATCH patch, POST and PUT update.
// A write becomes create where OpenBao's backend has an existence check on the path and the
// resource does not exist yet (see hasExistenceCheck; the authoriser asks).
func (s *Server) operation(r *http.Request, _ string) (acl.Operation, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return acl.OpRead, nil
	case "LIST":
		return acl.OpList, nil
	case http.MethodDelete:
		return acl.OpDelete, nil
	case http.MethodPatch:
		return acl.OpPatch, nil
	case http.MethodPost, http.MethodPut:
		return acl.OpUpdate, nil
	}
	return 0, errStatus(http.StatusMethodNotAllowed, "method %s is not supported (use GET, LIST, POST, PUT, PATCH or DELETE)", r.Method)
}

// hasExistenceCheck: a write on p is create or update depending on whether the resource
// exists. Of Baton's paths only the database engine's <mount>/config/<name>,
// <mount>/roles/<name> and <mount>/static-roles/<name> have OpenBao's existence check (as in
// OpenBao's database backend); a write anywhere else is an update, as OpenBao treats a write
// to a path without one.
func (s *Server) hasExistenceCheck(p string) bool {
	if strings.HasPrefix(p, "sys/") || strings.HasPrefix(p, "auth/") {
		return false
	}
	_, kind, name := s.splitDB(p)
	return name != "" && (kind == "config" || kind == "roles" || kind == "static-roles")
}

// splitDB splits a database engine path into its mount, the endpoint and a one-segment name.
func (s *Server) splitDB(p string) (mount, kind, name string) {
	mount, rest := s.secrets.FindMount(p)
	if mount == "" {
		return "", "", ""
	}
	kind, name, _ = strings.Cut(rest, "/")
	name = strings.Trim(name, "/")
	if strings.Contains(name, "/") {
		name = ""
	}
	return mount, kind, name
}

// exists is the existence check of a path hasExistenceCheck names: false only when the
// connection, role or static role is not there.
func (s *Server) exists(p string) bool {
	mount, kind, name := s.splitDB(p)
	var err error
	switch kind {
	case "config":
		_, err = s.secrets.ReadConfig(mount, name)
	case "roles":
		_, err = s.secrets.ReadRole(mount, name)
	case "static-roles":
		_, err = s.secrets.ReadStaticRole(mount, name)
	default:
		return true
	}
	return !errors.Is(err, database.ErrNotFound)
}

// rawBodyPaths take a raw request body, not a JSON object: the snapshot archive (OpenBao
// passes these requests' bodies through unparsed too). Policies see no parameters for them.
var rawBodyPaths = map[string]bool{"sys/storage/raft/snapshot": true, "sys/storage/raft/snapshot-force": true}

// requestData is the request's parameters, for the policies' parameter constraints: the JSON
// body of a write (put back for the handler to read), the query of a read, list or delete.
// A body that is not a JSON object is refused here with 400, before anything acts on it.
func requestData(r *http.Request, op acl.Operation) (map[string]any, error) {
	switch op {
	case acl.OpCreate, acl.OpUpdate, acl.OpPatch:
		// r.Body is capped at max_request_size (http.MaxBytesReader); body reads it and maps
		// an oversize or malformed body to its status.
		b, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		if err != nil {
			r.Body = io.NopCloser(errReader{err})
			return body(r)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, nil
		}
		m := map[string]any{}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, errStatus(http.StatusBadRequest, "request body is not a JSON object: %v", err)
		}
		return m, nil
	}
	q := r.URL.Query()
	q.Del("list")
	if len(q) == 0 {
		return nil, nil
	}
	m := make(map[string]any, len(q))
	for k, v := range q {
		if len(v) == 1 {
			m[k] = v[0]
		} else {
			m[k] = v
		}
	}
	return m, nil
}

// errReader fails every read with err (a body read that failed, replayed for body()).
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// builtinOnly is the authoriser of a server configured without one (unit tests of this
// package): the one authoriser over the given token store, with only the built-in policies
// (root and default) known; without a token store nothing is admitted.
func builtinOnly(tokens Tokens) Authorizer {
	var r auth.TokenResolver = denyAll{}
	if tokens != nil {
		r = tokens
	}
	return auth.NewAuthorizer(r, builtinACLs{})
}

// denyAll resolves no token.
type denyAll struct{}

func (denyAll) Resolve(context.Context, string) (auth.Identity, error) {
	return auth.Identity{}, auth.ErrPermissionDenied
}

// builtinACLs compiles a policy set from the built-in policies alone.
type builtinACLs struct{}

func (builtinACLs) ACLFor(policies []string) (*acl.ACL, error) {
	var ps []*acl.Policy
	for _, n := range policies {
		switch n {
		case acl.RootName:
			ps = append(ps, acl.RootPolicy())
		case acl.DefaultName:
			ps = append(ps, acl.DefaultPolicy())
		}
	}
	return acl.Compile(time.Now(), ps...)
}

// capabilitiesSelf serves POST sys/capabilities-self {"paths": [...]} (or the older "path"):
// what the caller's own token may do on each path.
func (s *Server) capabilitiesSelf(w http.ResponseWriter, r *http.Request, rest string) error {
	return s.capabilities(w, r, rest, true)
}

// capabilitiesOther serves POST sys/capabilities {"token": "...", "paths": [...]}.
func (s *Server) capabilitiesOther(w http.ResponseWriter, r *http.Request, rest string) error {
	return s.capabilities(w, r, rest, false)
}

// capabilities answers as OpenBao does: one key per path with its capabilities, and
// "capabilities" too when one path was asked, both in data and at the top level.
func (s *Server) capabilities(w http.ResponseWriter, r *http.Request, rest string, self bool) error {
	if rest != "" {
		return errStatus(http.StatusNotFound, "no handler for route %q", r.URL.Path)
	}
	if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
		return err
	}
	in, err := body(r)
	if err != nil {
		return err
	}
	paths, err := stringList(in, "paths")
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		if paths, err = stringList(in, "path"); err != nil {
			return err
		}
	}
	if len(paths) == 0 {
		return errStatus(http.StatusBadRequest, `missing "paths": the paths whose capabilities to list`)
	}
	token := requestToken(r)
	if !self {
		t, ok := in["token"].(string)
		if !ok || t == "" {
			return errStatus(http.StatusBadRequest, `missing "token": the token whose capabilities to list (use sys/capabilities-self for your own)`)
		}
		token = t
	}
	caps, err := s.authz.Capabilities(r.Context(), token, paths)
	if err != nil {
		if !self && errors.Is(err, auth.ErrPermissionDenied) {
			// The caller may ask; the token asked about is not valid: OpenBao's 400.
			return errStatus(http.StatusBadRequest, "invalid token")
		}
		return err
	}
	out := make(map[string]any, len(caps)+1)
	for p, c := range caps {
		out[p] = c
	}
	if len(paths) == 1 {
		out["capabilities"] = caps[paths[0]]
	}
	reply := data(out)
	for k, v := range out {
		if _, taken := reply[k]; !taken { // a path named "data" must not break the envelope
			reply[k] = v
		}
	}
	writeJSON(w, http.StatusOK, reply)
	return nil
}

// stringList reads a list of strings given as a JSON list or a comma-separated string.
func stringList(in map[string]any, key string) ([]string, error) {
	switch v := in[key].(type) {
	case nil:
		return nil, nil
	case string:
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errStatus(http.StatusBadRequest, "%q must be a list of strings", key)
			}
			out = append(out, strings.TrimSpace(s))
		}
		return out, nil
	}
	return nil, errStatus(http.StatusBadRequest, "%q must be a list of strings or a comma-separated string", key)
}

// displayName is the admitted token's display name, which OpenBao puts in the database
// usernames it creates ("v-<display name>-<role>-…"); "root" when none was recorded.
func displayName(r *http.Request) string {
	if id, ok := auth.IdentityFrom(r.Context()); ok && id.DisplayName != "" {
		return id.DisplayName
	}
	return "root"
}
