package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/baton-hq/baton/internal/audit"
	"github.com/baton-hq/baton/internal/auth"
)

// Auditor is what the API asks of the node's audit devices: recording each authenticated
// request and its response, and serving sys/audit and sys/audit-hash. internal/server wires
// the *audit.Broker into it.
type Auditor interface {
	// Enabled: some device is enabled, so every authenticated request is recorded.
	Enabled() bool
	// LogRequest and LogResponse record an entry on every device; an error wrapping
	// audit.ErrNoDevice means no device could, and the request must fail.
	LogRequest(ctx context.Context, in *audit.Input) error
	LogResponse(ctx context.Context, in *audit.Input) error
	// List, Enable, Disable and Hash serve sys/audit and sys/audit-hash.
	List() []audit.Device
	Enable(d audit.Device) error
	Disable(path string) error
	Hash(ctx context.Context, path, input string) (string, error)
}

// maxAuditedReply bounds how much of a reply is decoded for its response entry; a larger one
// is recorded without its data (replies are small: the largest is a lifecycle listing).
const maxAuditedReply = 4 << 20

// auditErr maps the audit package's errors to OpenBao's status codes: its refusals are 400
// (OpenBao's ErrInvalidRequest), a request no device could record is 500.
func auditErr(err error) error {
	switch {
	case errors.Is(err, audit.ErrNoDevice):
		return errStatus(http.StatusInternalServerError, "internal error: no audit device could record this request or its reply (the node's log says why)")
	case errors.Is(err, audit.ErrInvalid), errors.Is(err, audit.ErrNotFound), errors.Is(err, audit.ErrAPICreation), errors.Is(err, audit.ErrConfigManaged):
		return errStatus(http.StatusBadRequest, "%s", err.Error())
	}
	return err
}

// auditRefused records a request the token check refused: its request and response entries,
// each with the error ("permission denied"), no auth and no data: the body of a caller nobody
// admitted is not read, so that it cannot make the node write up to max_request_size to disk
// per request (OpenBao records it; Baton records the path, operation and address). It
// returns the error to answer: the refusal itself, or a 500 when no device could record it.
func (s *Server) auditRefused(r *http.Request, refusal error) error {
	if s.audit == nil || !s.audit.Enabled() {
		return refusal
	}
	in, err := s.auditInput(r, false)
	if err != nil {
		return err
	}
	_, in.Error = statusOf(refusal)
	if err := s.audit.LogRequest(r.Context(), in); err != nil {
		return auditErr(err)
	}
	if err := s.audit.LogResponse(r.Context(), in); err != nil {
		return auditErr(err)
	}
	return refusal
}

// runAudited serves an admitted request: for an authenticated route with a device enabled,
// it records the request entry first (the handler does not run when no device can), runs the
// handler into a buffer, records the response entry and only then sends the reply (a reply
// no device could record is a 500, as in OpenBao). Other requests are served as they are.
func (s *Server) runAudited(w http.ResponseWriter, r *http.Request, rt *route, rest string) {
	if !rt.auth || s.audit == nil || !s.audit.Enabled() {
		if err := rt.h(w, r, rest); err != nil {
			writeErr(w, err)
		}
		return
	}
	in, err := s.auditInput(r, true)
	if err != nil {
		writeErr(w, err)
		return
	}
	if err := s.audit.LogRequest(r.Context(), in); err != nil {
		writeErr(w, auditErr(err))
		return
	}
	rec := &auditRecorder{w: w, h: http.Header{}, s: s, r: r, in: in}
	if err := rt.h(rec, r, rest); err != nil {
		_, in.Error = statusOf(err)
		writeErr(rec, err)
	}
	rec.finish()
}

// auditInput describes r for its entries: who (the identity the authoriser admitted, when
// there is one), the token and what was asked, with withBody the JSON body's data. The body is
// read here and put back for the handler.
func (s *Server) auditInput(r *http.Request, withBody bool) (*audit.Input, error) {
	in := &audit.Input{}
	tok := requestToken(r)
	if id, ok := auth.IdentityFrom(r.Context()); ok {
		in.Auth = &audit.Auth{ClientToken: tok, Accessor: id.Accessor, DisplayName: id.DisplayName, Policies: id.Policies, TokenPolicies: id.Policies, Metadata: id.Meta}
		if id.Root {
			in.Auth.TokenType = "service"
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	req := audit.Request{ID: newRequestID(), Operation: operation(r.Method), Path: path, ClientToken: tok}
	if in.Auth != nil {
		req.ClientTokenAccessor = in.Auth.Accessor
	}
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		req.RemoteAddr = host
		req.RemotePort, _ = strconv.Atoi(port)
	} else {
		req.RemoteAddr = r.RemoteAddr
	}
	if !strings.HasPrefix(path, "sys/") && s.secrets != nil {
		if mount, _ := s.secrets.FindMount(path); mount != "" {
			if m, ok := s.secrets.ReadMount(mount); ok {
				req.MountType = m.Type
			}
		}
	}
	if withBody && r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, tooLargeErr(tooLarge.Limit)
		}
		if err != nil {
			return nil, errStatus(http.StatusBadRequest, "reading the request body: %v", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		if len(bytes.TrimSpace(b)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber() // as the handler and OpenBao read it: numbers are hashed as strings
			var m map[string]any
			if dec.Decode(&m) == nil {
				req.Data = m
			}
		}
	}
	in.Request = req
	return in, nil
}

// operation is OpenBao's logical operation for an HTTP method.
func operation(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "read"
	case "LIST":
		return "list"
	case http.MethodDelete:
		return "delete"
	}
	return "update"
}

// auditRecorder holds a handler's reply until its response entry is recorded. A handler that
// streams (it flushes) has its response entry recorded at the first flush, before anything
// is sent, and streams through from then on.
type auditRecorder struct {
	w      http.ResponseWriter
	h      http.Header
	s      *Server
	r      *http.Request
	in     *audit.Input
	status int
	buf    bytes.Buffer
	// streaming: the reply is passing through; failed: no device could record it, and
	// nothing more of it is sent.
	streaming, failed bool
}

func (a *auditRecorder) Header() http.Header { return a.h }

// WriteHeader keeps the first status; it is sent with the reply (commit).
func (a *auditRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}

func (a *auditRecorder) Write(b []byte) (int, error) {
	if a.failed {
		return 0, errors.New("audit: the reply could not be recorded")
	}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.streaming {
		return a.w.Write(b)
	}
	return a.buf.Write(b)
}

// Flush starts streaming: the response entry is recorded, then what is held is sent.
func (a *auditRecorder) Flush() {
	if a.failed {
		return
	}
	if !a.streaming {
		if !a.commit() {
			return
		}
		a.streaming = true
	}
	if fl, ok := a.w.(http.Flusher); ok {
		fl.Flush()
	}
}

// finish records the response entry and sends the reply, unless it streamed.
func (a *auditRecorder) finish() {
	if !a.streaming && !a.failed {
		a.commit()
	}
}

// commit records the response entry from what the handler wrote so far and sends it; false
// when no device could record it (the client then gets a 500 instead).
func (a *auditRecorder) commit() bool {
	a.in.Response = replyEntry(a.buf.Bytes())
	if a.in.Error == "" && a.status >= 400 {
		a.in.Error = replyError(a.buf.Bytes())
	}
	if err := a.s.audit.LogResponse(a.r.Context(), a.in); err != nil {
		a.failed = true
		writeErr(a.w, auditErr(err))
		return false
	}
	for k, v := range a.h {
		a.w.Header()[k] = v
	}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	a.w.WriteHeader(a.status)
	_, _ = a.w.Write(a.buf.Bytes())
	a.buf.Reset()
	return true
}

// replyEntry reads an OpenBao envelope ({data, lease_id, auth, warnings}) into a response
// entry; a JSON object without one is recorded whole as data, anything else without data.
func replyEntry(b []byte) *audit.Response {
	out := &audit.Response{}
	if len(b) == 0 || len(b) > maxAuditedReply {
		return out
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return out
	}
	if _, isErr := m["errors"]; isErr && len(m) == 1 {
		return out
	}
	if _, envelope := m["data"]; !envelope {
		out.Data = m
		return out
	}
	out.Data, _ = m["data"].(map[string]any)
	if id, _ := m["lease_id"].(string); id != "" {
		out.Secret = &audit.Secret{LeaseID: id}
	}
	if a, ok := m["auth"].(map[string]any); ok {
		out.Auth = &audit.Auth{}
		out.Auth.ClientToken, _ = a["client_token"].(string)
		out.Auth.Accessor, _ = a["accessor"].(string)
		out.Auth.DisplayName, _ = a["display_name"].(string)
		out.Auth.Policies = strs(a["policies"])
		out.Auth.TokenPolicies = strs(a["token_policies"])
		if md, ok := a["metadata"].(map[string]any); ok {
			out.Auth.Metadata = map[string]string{}
			for k, v := range md {
				out.Auth.Metadata[k], _ = v.(string)
			}
		}
	}
	out.Warnings = strs(m["warnings"])
	return out
}

// replyError is the joined "errors" of an error reply.
func replyError(b []byte) string {
	var m struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	return strings.Join(m.Errors, "; ")
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// auditDevices serves sys/audit: GET lists the devices in OpenBao's shape ("<path>/": {type,
// description, options, path, local}); PUT/POST sys/audit/:path enables one (refused unless
// unsafe_allow_api_audit_creation); DELETE disables one enabled through the API.
func (s *Server) auditDevices(w http.ResponseWriter, r *http.Request, rest string) error {
	if s.audit == nil {
		return errStatus(http.StatusNotFound, "this node has no audit broker")
	}
	switch {
	case rest == "" && r.Method == http.MethodGet:
		out := map[string]any{}
		for _, d := range s.audit.List() {
			out[d.Path] = map[string]any{"type": d.Type, "description": d.Description, "options": d.Options, "path": d.Path, "local": d.Local}
		}
		writeJSON(w, http.StatusOK, data(out))
		return nil
	case rest == "":
		return errStatus(http.StatusMethodNotAllowed, "sys/audit takes GET; enable or disable a device at sys/audit/<path>")
	}
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		b, err := body(r)
		if err != nil {
			return err
		}
		d := audit.Device{Path: rest, Options: map[string]string{}}
		d.Type, _ = b["type"].(string)
		d.Description, _ = b["description"].(string)
		if l, ok := b["local"].(bool); ok {
			d.Local = l
		}
		if o, ok := b["options"].(map[string]any); ok {
			for k, v := range o {
				switch x := v.(type) {
				case string:
					d.Options[k] = x
				case json.Number:
					d.Options[k] = x.String()
				case bool:
					d.Options[k] = strconv.FormatBool(x)
				default:
					return errStatus(http.StatusBadRequest, "option %q must be a string", k)
				}
			}
		} else if b["options"] != nil {
			return errStatus(http.StatusBadRequest, `"options" must be an object of strings`)
		}
		if d.Type == "" {
			return errStatus(http.StatusBadRequest, `"type" is required: "file"`)
		}
		if err := s.audit.Enable(d); err != nil {
			s.log.Warn("audit device enable refused", "path", audit.NormalizePath(rest), "error", err)
			return auditErr(err)
		}
		s.log.Info("audit device enabled through the API", "path", audit.NormalizePath(rest), "type", d.Type)
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := s.audit.Disable(rest); err != nil {
			return auditErr(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return errStatus(http.StatusMethodNotAllowed, "sys/audit/%s takes PUT, POST or DELETE", rest)
}

// auditHash serves sys/audit-hash/:path: {input} → {hash}, hashed as that device hashes.
func (s *Server) auditHash(w http.ResponseWriter, r *http.Request, rest string) error {
	if s.audit == nil {
		return errStatus(http.StatusNotFound, "this node has no audit broker")
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return errStatus(http.StatusMethodNotAllowed, "sys/audit-hash/<path> takes POST")
	}
	if rest == "" {
		return errStatus(http.StatusBadRequest, "audit device path must be specified: sys/audit-hash/<path>")
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	input, _ := b["input"].(string)
	if input == "" {
		return errStatus(http.StatusBadRequest, `the "input" parameter is empty`)
	}
	h, err := s.audit.Hash(r.Context(), rest, input)
	if err != nil {
		return auditErr(err)
	}
	writeJSON(w, http.StatusOK, data(map[string]any{"hash": h}))
	return nil
}
