package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Pacing of the join-target probe: a quick first retry, then at most every probeMax; each
// call bounded by probeTimeout.
const (
	probeFirst   = 250 * time.Millisecond
	probeMax     = 2 * time.Second
	probeTimeout = 2 * time.Second
)

// startProbe starts probeJoinTargets unless it already runs, the node has no join target,
// or the server is closed.
func (s *Server) startProbe() {
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if s.probing || len(s.joinLeader) == 0 || s.ctx.Err() != nil {
		return
	}
	s.probing = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.probeJoinTargets()
	}()
}

// probeJoinTargets asks the join targets whether their cluster is initialised until one says
// so, then records it on the node (core.Node.MarkReachedCluster): from then on this node
// reports initialized=true and sealed, and refuses sys/init, as OpenBao's does while a raft
// join is in progress. It ends once recorded, once the node is a member itself, or on Close.
func (s *Server) probeJoinTargets() {
	defer func() {
		s.joinMu.Lock()
		s.probing = false
		s.joinMu.Unlock()
	}()
	// No keep-alive: a probe is rare, and an idle connection would outlive the server.
	hc := &http.Client{Timeout: probeTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	wait := probeFirst
	for {
		if s.node.InitializedLocally() || s.node.ReachedCluster() != "" {
			return
		}
		for _, addr := range s.joinTargets() {
			init, err := probeTarget(s.ctx, hc, addr)
			if err != nil {
				s.log.Debug("join target not reached yet", "leader_api_addr", addr, "error", err)
				continue
			}
			if init {
				s.node.MarkReachedCluster(addr)
				return
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, probeMax)
	}
}

// probeTarget reads the initialized flag of the node at addr from its sys/seal-status,
// which every node answers, sealed or not, standby or active.
func probeTarget(ctx context.Context, hc *http.Client, addr string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(addr, "/")+"/v1/sys/seal-status", nil)
	if err != nil {
		return false, fmt.Errorf("leader_api_addr %q: %w", addr, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("sys/seal-status answered %d", resp.StatusCode)
	}
	var st struct {
		Initialized *bool `json:"initialized"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&st); err != nil {
		return false, fmt.Errorf("sys/seal-status: %w", err)
	}
	if st.Initialized == nil {
		return false, fmt.Errorf("sys/seal-status has no initialized field")
	}
	return *st.Initialized, nil
}
