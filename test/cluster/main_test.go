package cluster

import (
	"testing"

	"go.uber.org/goleak"
)

// Nodes, Raft, NATS and plugin watchers all stop with their cluster: nothing may be left.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
