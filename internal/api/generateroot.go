package api

import (
	"encoding/base64"
	"encoding/hex"
	"net/http"

	"github.com/baton-hq/baton/internal/auth"
)

// sys/generate-root: OpenBao's flow, unauthenticated as there (the unseal key is the
// credential). Answers are OpenBao's status object, not wrapped in data.

func (s *Server) generateRootAttempt(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.rootGen == nil {
		return errStatus(http.StatusNotFound, "this node cannot generate root tokens")
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, rootGenStatus(s.rootGen.Status()))
		return nil
	case http.MethodPut, http.MethodPost:
		b, err := body(r)
		if err != nil {
			return err
		}
		p := params(b)
		if pgp, _ := p.str("pgp_key"); pgp != "" {
			return errStatus(http.StatusBadRequest, "pgp_key is not supported: give an otp, or none to have one made")
		}
		otp, err := p.str("otp")
		if err != nil {
			return err
		}
		st, err := s.rootGen.Start(otp)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, rootGenStatus(st))
		return nil
	case http.MethodDelete:
		s.rootGen.Cancel()
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return requireMethod(r, http.MethodGet, http.MethodPut, http.MethodDelete)
}

func (s *Server) generateRootUpdate(w http.ResponseWriter, r *http.Request, _ string) error {
	if s.rootGen == nil {
		return errStatus(http.StatusNotFound, "this node cannot generate root tokens")
	}
	p, err := writeParams(r)
	if err != nil {
		return err
	}
	keyText, err := p.str("key")
	if err != nil {
		return err
	}
	nonce, err := p.str("nonce")
	if err != nil {
		return err
	}
	if keyText == "" {
		return errStatus(http.StatusBadRequest, "'key' must be specified in request body as JSON")
	}
	// The key is hex or base64, as OpenBao takes it.
	key, err := hex.DecodeString(keyText)
	if err != nil || (len(key) != 32 && len(key) != 33) { // a key, or a Shamir share (its x coordinate appended)
		if key, err = base64.StdEncoding.DecodeString(keyText); err != nil {
			return errStatus(http.StatusBadRequest, "'key' must be a valid hex or base64 string")
		}
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	st, err := s.rootGen.Update(ctx, key, nonce)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rootGenStatus(st))
	return nil
}

func rootGenStatus(st auth.RootGenStatus) map[string]any {
	return map[string]any{
		"nonce": st.Nonce, "started": st.Started, "progress": st.Progress, "required": st.Required,
		"complete": st.Complete, "encoded_token": st.EncodedToken, "encoded_root_token": st.EncodedToken,
		"pgp_fingerprint": "", "otp": st.OTP, "otp_length": st.OTPLength,
	}
}
