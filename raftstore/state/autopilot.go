package state

import (
	"fmt"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
)

// autopilotHandlers keep the cluster's autopilot configuration, which every node reads when it
// becomes the active node and runs the autopilot.
var autopilotHandlers = map[command.Type]handler{
	TypeAutopilotConfig: on((*txn).autopilotConfig),
}

// TypeAutopilotConfig replaces the autopilot configuration (payload AutopilotConfig).
const TypeAutopilotConfig command.Type = "autopilot.config"

// MinDeadServerLastContactThreshold is the least dead_server_last_contact_threshold, as in
// OpenBao: a shorter one would remove a server that is only restarting or briefly cut off.
const MinDeadServerLastContactThreshold = time.Minute

// MinCleanupQuorum is the least min_quorum with cleanup_dead_servers, as in OpenBao: below
// three voters a cluster tolerates no failure, so removing one can only make things worse.
const MinCleanupQuorum = 3

// AutopilotConfig is the cluster's autopilot configuration (OpenBao's
// sys/storage/raft/autopilot/configuration).
type AutopilotConfig struct {
	CleanupDeadServers             bool          `json:"cleanup_dead_servers"`
	LastContactThreshold           time.Duration `json:"last_contact_threshold"`
	DeadServerLastContactThreshold time.Duration `json:"dead_server_last_contact_threshold"`
	MaxTrailingLogs                uint64        `json:"max_trailing_logs"`
	MinQuorum                      uint          `json:"min_quorum"`
	ServerStabilizationTime        time.Duration `json:"server_stabilization_time"`
}

// DefaultAutopilotConfig is the configuration of a cluster no operator has set one on:
// OpenBao's defaults.
func DefaultAutopilotConfig() AutopilotConfig {
	return AutopilotConfig{
		LastContactThreshold:           10 * time.Second,
		DeadServerLastContactThreshold: 24 * time.Hour,
		MaxTrailingLogs:                1000,
		ServerStabilizationTime:        10 * time.Second,
	}
}

// Validate checks c with OpenBao's rules; the error (ErrInvalid) says what to change.
func (c AutopilotConfig) Validate() error {
	switch {
	case c.LastContactThreshold <= 0:
		return fmt.Errorf("%w: last_contact_threshold must be a positive duration such as 10s", ErrInvalid)
	case c.ServerStabilizationTime < 0:
		return fmt.Errorf("%w: server_stabilization_time must not be negative", ErrInvalid)
	case c.DeadServerLastContactThreshold < MinDeadServerLastContactThreshold:
		return fmt.Errorf("%w: dead_server_last_contact_threshold should not be set to less than %s", ErrInvalid, MinDeadServerLastContactThreshold)
	case c.CleanupDeadServers && c.MinQuorum < MinCleanupQuorum:
		return fmt.Errorf("%w: min_quorum must be set when cleanup_dead_servers is set and it should at least be %d (got %d)", ErrInvalid, MinCleanupQuorum, c.MinQuorum)
	}
	return nil
}

// AutopilotConfig is the cluster's autopilot configuration: the one set, or the default.
func (d *Data) AutopilotConfig() AutopilotConfig {
	if d.Autopilot == nil {
		return DefaultAutopilotConfig()
	}
	return *d.Autopilot
}

func (t *txn) autopilotConfig(p AutopilotConfig) error {
	if err := p.Validate(); err != nil {
		return err
	}
	t.d.Autopilot = &p
	return nil
}
