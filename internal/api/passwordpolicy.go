package api

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// passwordPolicies serves OpenBao's sys/policies/password: LIST (or GET ?list=true) of the
// names, GET, PUT/POST {policy} and DELETE on a name, and GET :name/generate.
func (s *Server) passwordPolicies(w http.ResponseWriter, r *http.Request, rest string) error {
	name := strings.Trim(rest, "/")
	if name == "" {
		if err := requireMethod(r, "LIST"); err != nil {
			return err
		}
		return listReply(w, s.secrets.ListPasswordPolicies())
	}
	if policy, ok := strings.CutSuffix(name, "/generate"); ok {
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		pw, err := s.secrets.GeneratePassword(policy)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(map[string]any{"password": pw}))
		return nil
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	switch r.Method {
	case http.MethodGet:
		text, err := s.secrets.ReadPasswordPolicy(name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(map[string]any{"policy": text}))
		return nil
	case http.MethodPut, http.MethodPost:
		b, err := body(r)
		if err != nil {
			return err
		}
		p := params(b)
		text, err := p.str("policy")
		if err != nil {
			return err
		}
		if strings.TrimSpace(text) == "" {
			return errStatus(http.StatusBadRequest, `policy is required: the policy's HCL, such as length = 20 and rule "charset" { charset = "abc…" min-chars = 1 }`)
		}
		// OpenBao takes the text as is or base64-encoded.
		if dec, err := base64.StdEncoding.DecodeString(text); err == nil {
			text = string(dec)
		}
		if err := s.secrets.PutPasswordPolicy(ctx, name, text); err != nil {
			return err
		}
		writeDone(w, p.ignored("policy"))
		return nil
	case http.MethodDelete:
		if err := s.secrets.DeletePasswordPolicy(ctx, name); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return requireMethod(r, http.MethodGet, http.MethodPut, http.MethodDelete)
}
