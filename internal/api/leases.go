package api

import (
	"net/http"
	"strings"
)

// leasesByPrefix serves OpenBao's prefix endpoints under sys/leases: PUT revoke-prefix/:prefix
// and revoke-force/:prefix (what `bao lease revoke -prefix` and `-force -prefix` send), and
// LIST lookup/:prefix. done is false for every other sys/leases path, which leases serves.
func (s *Server) leasesByPrefix(w http.ResponseWriter, r *http.Request, rest string) (done bool, err error) {
	op, prefix, _ := strings.Cut(rest, "/")
	switch {
	case op == "revoke-prefix" || op == "revoke-force":
		if err := requireMethod(r, http.MethodPut, http.MethodPost); err != nil {
			return true, err
		}
		if prefix == "" {
			return true, errStatus(http.StatusBadRequest, "sys/leases/%s needs a prefix: sys/leases/%s/<mount>/creds/<role>", op, op)
		}
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		if err := s.secrets.RevokePrefix(ctx, prefix, op == "revoke-force"); err != nil {
			return true, err
		}
		w.WriteHeader(http.StatusNoContent)
		return true, nil
	case op == "lookup" && r.Method == "LIST":
		return true, listReply(w, s.secrets.LookupPrefix(prefix))
	}
	return false, nil
}
