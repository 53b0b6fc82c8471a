package testplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

// BenchmarkNewUser measures one NewUser on a persisted test database holding 1k and 10k users,
// in one run, so that the two sizes compare on the same machine at the same moment: a cost per
// call that does not depend on the size shows as equal figures. Run it with a fixed count,
// e.g. -benchtime=200x, so that both sizes grow by the same few users during the run.
func BenchmarkNewUser(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "db.json")
			seedTable(b, path, n)
			d := New(Knobs{})
			ctx := context.Background()
			if _, err := d.Initialize(ctx, dbplugin.InitializeRequest{Config: rootConfig(path, rootPass), VerifyConnection: true}); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = d.Close() })
			req := dbplugin.NewUserRequest{
				UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "token", RoleName: "readonly"},
				Password:       "bench-Pa55word-bench",
				Expiration:     time.Now().Add(time.Hour),
			}
			// The first call reads the table whatever the layout; measure the calls after it.
			if _, err := d.NewUser(ctx, req); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.NewUser(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// seedTable writes a state file holding the root user and n users as one JSON document (the
// layout every version of the plugin reads), so that setting up a large database does not cost
// n calls.
func seedTable(tb testing.TB, path string, n int) {
	tb.Helper()
	t := newTable()
	t.RootUsername = rootUser
	t.Users[rootUser] = User{Password: rootPass, CredentialType: dbplugin.CredentialTypePassword.String()}
	exp := time.Now().Add(time.Hour).UTC()
	for i := 0; i < n; i++ {
		t.Users[fmt.Sprintf("v-token-readonly-seed%08d", i)] = User{
			Password: fmt.Sprintf("seed-password-%08d", i), CredentialType: dbplugin.CredentialTypePassword.String(), Expiration: exp,
		}
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}
