package api

import (
	"encoding/base64"
	"net/http"

	"github.com/baton-hq/baton/internal/core"
)

// The join handshake, as OpenBao's sys/storage/raft/bootstrap/challenge and answer: both take
// no token (the joining node has none; it proves it holds the unseal key), and a standby
// forwards both to the active node, which keeps the challenges.

// raftBootstrapChallenge: POST {server_id} → {challenge}, the nonce encrypted under the
// barrier key, good for one answer within a minute.
func (s *Server) raftBootstrapChallenge(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return errStatus(http.StatusMethodNotAllowed, "use POST")
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	id, _ := params(b).str("server_id")
	ch, err := s.node.Challenge(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"challenge": ch})
	return nil
}

// raftBootstrapAnswer: POST {server_id, answer, cluster_addr, api_addr, csr} → the node's
// certificate, the CA's, the CA key sealed under the barrier key, the peers and a MAC over
// them; a used, expired, foreign or forged answer is 403 and changes nothing.
func (s *Server) raftBootstrapAnswer(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return errStatus(http.StatusMethodNotAllowed, "use POST")
	}
	b, err := body(r)
	if err != nil {
		return err
	}
	p := params(b)
	var a core.JoinAnswer
	a.ServerID, _ = p.str("server_id")
	a.Answer, _ = p.str("answer")
	a.ClusterAddr, _ = p.str("cluster_addr")
	a.APIAddr, _ = p.str("api_addr")
	csr, _ := p.str("csr")
	if a.CSR, err = base64.StdEncoding.DecodeString(csr); err != nil {
		return errStatus(http.StatusBadRequest, "csr must be the base64 of a DER certificate request")
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	g, err := s.node.Answer(ctx, a)
	if err != nil {
		return err
	}
	peers := make([]map[string]any, 0, len(g.Peers))
	for _, p := range g.Peers {
		peers = append(peers, map[string]any{"node_id": p.ID, "address": p.Address, "voter": p.Voter})
	}
	enc := base64.StdEncoding.EncodeToString
	writeJSON(w, http.StatusOK, map[string]any{
		"certificate": enc(g.Cert), "ca_certificate": enc(g.CACert), "ca_key_sealed": enc(g.CAKeySealed),
		"peers": peers, "grant_mac": enc(g.MAC),
	})
	return nil
}
