package cluster

import (
	"net/http"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/testutil"
)

// revokeBenchLeases is how many leases each round of BenchmarkRevokePrefix revokes.
const revokeBenchLeases = 128

// BenchmarkRevokePrefix measures revoking revokeBenchLeases leases on a 3-node cluster (test
// Raft profile, fsync on, the real test plugin): one sys/leases/revoke-prefix call beside the
// same-run baseline of one sys/leases/revoke call per lease. The credentials are issued with
// the timer stopped; ns/op is one whole revocation of revokeBenchLeases leases.
func BenchmarkRevokePrefix(b *testing.B) {
	c := New(b, 3, Options{})
	a := c.Active()
	benchDB(b, c, a)
	issue := func() []string {
		ctx := testutil.Context(b, 5*time.Minute)
		ids := make([]string, 0, revokeBenchLeases)
		for range revokeBenchLeases {
			r := a.Client.Must(b, ctx, "GET", "database/creds/ro", nil)
			ids = append(ids, r.Body["lease_id"].(string))
		}
		return ids
	}
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			ids := issue()
			b.StartTimer()
			ctx := testutil.Context(b, 5*time.Minute)
			for _, id := range ids {
				a.Client.Must(b, ctx, "PUT", "sys/leases/revoke", map[string]any{"lease_id": id}, http.StatusNoContent)
			}
		}
	})
	b.Run("prefix", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			issue()
			b.StartTimer()
			ctx := testutil.Context(b, 5*time.Minute)
			a.Client.Must(b, ctx, "PUT", "sys/leases/revoke-prefix/database/creds/ro", nil, http.StatusNoContent)
		}
	})
}
