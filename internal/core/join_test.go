package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReachedClusterReportsInitializedAndRefusesInit checks a node that has reached an
// initialised cluster through a join target: it reports itself initialised but not locally
// (it holds no seal check yet), stays sealed, and refuses Init with ErrJoining naming the
// target, leaving nothing behind; without a target an empty node may be initialised.
func TestReachedClusterReportsInitializedAndRefusesInit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := newNode(t, t.TempDir(), freeAddr(t))
	if n.Initialized() || n.ReachedCluster() != "" {
		t.Fatal("a new node claims to be initialised or joining")
	}
	n.MarkReachedCluster("")
	if n.Initialized() {
		t.Fatal("an empty join target made the node initialised")
	}
	n.MarkReachedCluster("http://10.0.0.1:8200")
	n.MarkReachedCluster("http://10.0.0.2:8200") // the first one is kept
	if !n.Initialized() || n.InitializedLocally() || !n.Sealed() {
		t.Fatalf("after reaching a cluster: initialized=%v locally=%v sealed=%v, want true, false, true",
			n.Initialized(), n.InitializedLocally(), n.Sealed())
	}
	_, err := n.Init(ctx, "")
	if !errors.Is(err, ErrJoining) || !strings.Contains(err.Error(), "http://10.0.0.1:8200") {
		t.Fatalf("Init on a joining node: %v, want ErrJoining naming http://10.0.0.1:8200", err)
	}
	if n.InitializedLocally() || !n.Sealed() || n.Store() != nil {
		t.Fatal("the refused Init left a seal check, an unsealed barrier or a Raft store behind")
	}
}
