package api

import (
	"net/http"
	"strings"
)

// policyAPI is one of the two shapes of OpenBao's ACL policy endpoints: sys/policies/acl (the
// text under "policy") and the older sys/policy (the text under "rules"; its list also names
// the policies under "policies").
type policyAPI struct {
	old     bool
	textKey string
}

var (
	newPolicyAPI = policyAPI{textKey: "policy"}
	oldPolicyAPI = policyAPI{old: true, textKey: "rules"}
)

func (s *Server) policiesACL(w http.ResponseWriter, r *http.Request, rest string) error {
	return s.policy(w, r, rest, newPolicyAPI)
}

func (s *Server) policiesOld(w http.ResponseWriter, r *http.Request, rest string) error {
	return s.policy(w, r, rest, oldPolicyAPI)
}

// policy serves GET (read), PUT/POST (write), DELETE on a name, and the list (LIST or
// GET ?list=true on the new path; GET on the old one).
func (s *Server) policy(w http.ResponseWriter, r *http.Request, rest string, api policyAPI) error {
	if s.policies == nil {
		return errStatus(http.StatusNotFound, "this node has no policy store")
	}
	name := strings.Trim(rest, "/")
	if name == "" {
		allowed := []string{"LIST"}
		if api.old {
			allowed = append(allowed, http.MethodGet)
		}
		if err := requireMethod(r, allowed...); err != nil {
			return err
		}
		names := s.policies.List()
		out := map[string]any{"keys": names}
		if api.old {
			out["policies"] = names
		}
		writePolicyReply(w, http.StatusOK, out)
		return nil
	}
	if strings.Contains(name, "/") {
		return errStatus(http.StatusBadRequest, "policy name %q: a policy name has no '/'", name)
	}
	switch r.Method {
	case http.MethodGet:
		p, err := s.policies.Get(name)
		if err != nil {
			return err
		}
		writePolicyReply(w, http.StatusOK, map[string]any{"name": p.Name, api.textKey: p.Text})
		return nil
	case http.MethodPut, http.MethodPost:
		b, err := body(r)
		if err != nil {
			return err
		}
		p := params(b)
		keys := []string{"policy"}
		if api.old {
			keys = append(keys, "rules") // OpenBao's older field, still accepted there
		}
		// Unknown fields are accepted with OpenBao's warning and never stored.
		ignored := p.ignored(append(keys, "name")...)
		var text string
		for _, k := range keys {
			if text != "" {
				break
			}
			if text, err = p.str(k); err != nil {
				return err
			}
		}
		if strings.TrimSpace(text) == "" {
			return errStatus(http.StatusBadRequest, "'policy' parameter not supplied or empty")
		}
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		if err := s.policies.Put(ctx, name, text); err != nil {
			return err
		}
		writeDone(w, ignored)
		return nil
	case http.MethodDelete:
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		if err := s.policies.Delete(ctx, name); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return requireMethod(r, http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete)
}

// writePolicyReply writes OpenBao's envelope with the fields also at the top level, where
// older clients of the sys backend read them.
func writePolicyReply(w http.ResponseWriter, status int, out map[string]any) {
	reply := data(out)
	for k, v := range out {
		reply[k] = v
	}
	writeJSON(w, status, reply)
}
