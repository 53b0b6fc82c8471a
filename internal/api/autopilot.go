package api

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/baton-hq/baton/internal/core"
)

// Autopilot is what the API asks of the autopilot; internal/server wires the core node in. The
// Storage value serves it when it implements it.
type Autopilot interface {
	// AutopilotConfiguration is the configuration in force.
	AutopilotConfiguration() core.AutopilotConfig
	// SetAutopilotConfiguration replaces it (core.ErrInvalidRequest for a value to change).
	SetAutopilotConfiguration(ctx context.Context, c core.AutopilotConfig) error
	// AutopilotState is the running autopilot's view of the servers.
	AutopilotState() (core.AutopilotState, error)
}

// autopilotFields are the configuration's fields, as OpenBao names them.
var autopilotFields = []string{"cleanup_dead_servers", "last_contact_threshold", "dead_server_last_contact_threshold",
	"max_trailing_logs", "min_quorum", "server_stabilization_time"}

// raftAutopilot serves sys/storage/raft/autopilot/configuration (GET, POST/PUT) and /state
// (GET) with OpenBao's shapes: durations as Go duration strings, a POST changing only the
// fields it names.
func (s *Server) raftAutopilot(w http.ResponseWriter, r *http.Request, rest string) error {
	ap, ok := s.storage.(Autopilot)
	if s.storage == nil || !ok {
		return errStatus(http.StatusNotFound, "no handler for route %q", r.URL.Path)
	}
	switch rest {
	case "configuration":
		if r.Method == http.MethodGet {
			writeJSON(w, http.StatusOK, data(autopilotConfigJSON(ap.AutopilotConfiguration())))
			return nil
		}
		if err := requireMethod(r, http.MethodPost, http.MethodPut); err != nil {
			return err
		}
		b, err := body(r)
		if err != nil {
			return err
		}
		c, err := mergeAutopilotConfig(ap.AutopilotConfiguration(), params(b))
		if err != nil {
			return err
		}
		ctx, cancel := ctxTimeout(r)
		defer cancel()
		if err := ap.SetAutopilotConfiguration(ctx, c); err != nil {
			return err
		}
		writeDone(w, params(b).ignored(autopilotFields...))
		return nil
	case "state":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		st, err := ap.AutopilotState()
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, data(autopilotStateJSON(st)))
		return nil
	}
	return errStatus(http.StatusNotFound, "no handler for route %q: use sys/storage/raft/autopilot/configuration or /state", r.URL.Path)
}

func autopilotConfigJSON(c core.AutopilotConfig) map[string]any {
	return map[string]any{
		"cleanup_dead_servers":               c.CleanupDeadServers,
		"last_contact_threshold":             c.LastContactThreshold.String(),
		"dead_server_last_contact_threshold": c.DeadServerLastContactThreshold.String(),
		"max_trailing_logs":                  c.MaxTrailingLogs,
		"min_quorum":                         c.MinQuorum,
		"server_stabilization_time":          c.ServerStabilizationTime.String(),
	}
}

// mergeAutopilotConfig applies the fields a request names onto the configuration in force.
func mergeAutopilotConfig(c core.AutopilotConfig, p params) (core.AutopilotConfig, error) {
	if v, err := p.boolean("cleanup_dead_servers"); err != nil {
		return c, err
	} else if v != nil {
		c.CleanupDeadServers = *v
	}
	for k, dst := range map[string]*time.Duration{
		"last_contact_threshold":             &c.LastContactThreshold,
		"dead_server_last_contact_threshold": &c.DeadServerLastContactThreshold,
		"server_stabilization_time":          &c.ServerStabilizationTime,
	} {
		d, ok, err := p.duration(k)
		if err != nil {
			return c, err
		}
		if ok {
			*dst = d
		}
	}
	if n, ok, err := p.count("max_trailing_logs", math.MaxInt64); err != nil {
		return c, err
	} else if ok {
		c.MaxTrailingLogs = n
	}
	if n, ok, err := p.count("min_quorum", math.MaxInt32); err != nil {
		return c, err
	} else if ok {
		c.MinQuorum = uint(n)
	}
	return c, nil
}

// count reads a whole number from 0 to limit (a number or a numeric string).
func (p params) count(k string, limit uint64) (uint64, bool, error) {
	v, ok := p[k]
	if !ok || v == nil {
		return 0, false, nil
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return 0, true, errStatus(http.StatusBadRequest, "%s must be a whole number, not %T", k, v)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > limit {
		return 0, true, errStatus(http.StatusBadRequest, "%s must be a whole number from 0 to %d, not %q", k, limit, s)
	}
	return n, true, nil
}

func autopilotStateJSON(st core.AutopilotState) map[string]any {
	servers := map[string]any{}
	var nonVoters []string
	for id, sv := range st.Servers {
		stable := ""
		if !sv.StableSince.IsZero() {
			stable = sv.StableSince.Format(time.RFC3339Nano)
		}
		servers[id] = map[string]any{
			"id": sv.ID, "name": sv.Name, "address": sv.Address, "node_status": sv.NodeStatus,
			"last_contact": sv.LastContact.String(), "last_term": sv.LastTerm, "last_index": sv.LastIndex,
			"healthy": sv.Healthy, "stable_since": stable, "status": sv.Status, "version": "", "meta": nil,
		}
		if sv.Status == "non-voter" || sv.Status == "staging" {
			nonVoters = append(nonVoters, id)
		}
	}
	slices.Sort(nonVoters)
	voters := slices.Clone(st.Voters)
	slices.Sort(voters)
	return map[string]any{
		"healthy": st.Healthy, "failure_tolerance": st.FailureTolerance, "servers": servers,
		"leader": st.Leader, "voters": voters, "non_voters": nonVoters,
	}
}
