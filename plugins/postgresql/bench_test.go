package postgresql

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/test/pgtest"
)

// The benchmarks pair each plugin call with the raw SQL it stands for, on the same server in
// the same run (PERFORMANCE-GOALS.md compares them as ratios):
//
//	go test -run '^$' -bench . -benchtime 2s ./plugins/postgresql/
//
// NewUser vs CREATE ROLE … LOGIN PASSWORD (goal: ≤ 1.2×), the same on 16 clients (goal:
// ≥ 0.8× the raw rate), DeleteUser vs DROP ROLE (goal: ≤ ½ OpenBao's 17 ms).

const benchPassword = "Bench-Password-0123456789"

var benchSeq atomic.Int64

// benchRoot is a superuser root whose roles are all dropped when the benchmark ends.
func benchRoot(b *testing.B) (*pgtest.Server, root) {
	b.Helper()
	s := server(b)
	r := newRoot(b, s, "SUPERUSER")
	b.Cleanup(func() { dropRolesLike(b, s, "bench-%") })
	return s, r
}

// dropRolesLike drops the roles whose names match pattern, in one pipeline.
func dropRolesLike(b *testing.B, s *pgtest.Server, pattern string) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.ConnString())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT rolname FROM pg_roles WHERE rolname LIKE $1`, pattern)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	var cmds []string
	for _, n := range names {
		cmds = append(cmds, "DROP ROLE IF EXISTS "+pgx.Identifier{n}.Sanitize())
	}
	if len(cmds) == 0 {
		return
	}
	errs, err := execEach(ctx, conn.PgConn(), cmds)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			b.Fatal(e)
		}
	}
}

func benchNames() string {
	return fmt.Sprintf(`{{ printf "bench-%%d-%%s" %d (random 16) }}`, os.Getpid())
}

func benchDB(b *testing.B, s *pgtest.Server, r root, maxOpen int) dbplugin.Database {
	b.Helper()
	cfg := r.config(s)
	cfg["username_template"] = benchNames()
	if maxOpen > 0 {
		cfg["max_open_connections"] = maxOpen
	}
	return newDB(b, cfg)
}

func newUserRequest() dbplugin.NewUserRequest {
	return dbplugin.NewUserRequest{
		UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "bench", RoleName: "bench"},
		Password:       benchPassword,
		Expiration:     time.Now().Add(time.Hour),
	}
}

// BenchmarkNewUser is one credential at a time through the plugin (in-process, default
// creation statement).
func BenchmarkNewUser(b *testing.B) {
	s, r := benchRoot(b)
	db := benchDB(b, s, r, 0)
	ctx := testContext(b)
	req := newUserRequest()
	for b.Loop() {
		if _, err := db.NewUser(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawCreateRole is the floor for BenchmarkNewUser: the statement alone, on one
// connection, as the same root.
func BenchmarkRawCreateRole(b *testing.B) {
	s, r := benchRoot(b)
	ctx := testContext(b)
	conn, err := pgx.Connect(ctx, s.URL(r.name, r.password))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	for b.Loop() {
		q := fmt.Sprintf(`CREATE ROLE "bench-raw-%d" WITH LOGIN PASSWORD '%s'`, benchSeq.Add(1), benchPassword)
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewUserParallel16 is 16 clients at once through the plugin, with the default pool
// (4 connections, OpenBao's default) and with one connection per client.
func BenchmarkNewUserParallel16(b *testing.B) {
	for _, maxOpen := range []int{0, 16} {
		b.Run(fmt.Sprintf("max_open_connections=%d", maxOpen), func(b *testing.B) {
			s, r := benchRoot(b)
			db := benchDB(b, s, r, maxOpen)
			ctx := testContext(b)
			b.SetParallelism(parallelism(16))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req := newUserRequest()
				for pb.Next() {
					if _, err := db.NewUser(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRawCreateRoleParallel16 is 16 clients on 16 connections, raw.
func BenchmarkRawCreateRoleParallel16(b *testing.B) {
	s, r := benchRoot(b)
	ctx := testContext(b)
	pc, err := pgxpool.ParseConfig(s.URL(r.name, r.password))
	if err != nil {
		b.Fatal(err)
	}
	pc.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	b.SetParallelism(parallelism(16))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			q := fmt.Sprintf(`CREATE ROLE "bench-raw-%d" WITH LOGIN PASSWORD '%s'`, benchSeq.Add(1), benchPassword)
			if _, err := pool.Exec(ctx, q); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// parallelism turns a client count into RunParallel's multiplier of GOMAXPROCS.
func parallelism(clients int) int {
	return max(1, clients/runtime.GOMAXPROCS(0))
}

// BenchmarkNewUserVsRawCreateRole alternates one raw CREATE ROLE … LOGIN PASSWORD and one
// NewUser on the same server, and reports the median of each and their ratio: on a shared,
// noisy machine, interleaving is what makes the ratio fair (goal: ratio ≤ 1.2).
func BenchmarkNewUserVsRawCreateRole(b *testing.B) {
	s, r := benchRoot(b)
	db := benchDB(b, s, r, 0)
	ctx := testContext(b)
	conn, err := pgx.Connect(ctx, s.URL(r.name, r.password))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	req := newUserRequest()
	var raw, plugin []time.Duration
	for b.Loop() {
		q := fmt.Sprintf(`CREATE ROLE "bench-raw-%d" WITH LOGIN PASSWORD '%s'`, benchSeq.Add(1), benchPassword)
		start := time.Now()
		if _, err := conn.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := db.NewUser(ctx, req); err != nil {
			b.Fatal(err)
		}
		raw, plugin = append(raw, mid.Sub(start)), append(plugin, time.Since(mid))
	}
	reportMedians(b, "newuser", plugin, "create-role", raw)
}

// BenchmarkDeleteUser revokes one user with the default revocation (superuser root: REASSIGN
// OWNED, DROP OWNED, DROP ROLE), interleaved with a raw DROP ROLE; it reports both medians.
func BenchmarkDeleteUser(b *testing.B) {
	s, r := benchRoot(b)
	benchDelete(b, s, r)
}

// BenchmarkDeleteUserCreateRoleRoot is the same with a CREATEROLE root, which takes the
// per-schema revocation path.
func BenchmarkDeleteUserCreateRoleRoot(b *testing.B) {
	s := server(b)
	r := newRoot(b, s, "CREATEROLE")
	b.Cleanup(func() { dropRolesLike(b, s, "bench-%") })
	benchDelete(b, s, r)
}

func benchDelete(b *testing.B, s *pgtest.Server, r root) {
	b.Helper()
	db := benchDB(b, s, r, 0)
	ctx := testContext(b)
	conn, err := pgx.Connect(ctx, s.URL(r.name, r.password))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Password-less roles: the set-up's cost is not the point, and SCRAM hashing would make
	// it dominate the run.
	create := func() string {
		name := fmt.Sprintf("bench-del-%d", benchSeq.Add(1))
		if _, err := conn.Exec(ctx, `CREATE ROLE `+pgx.Identifier{name}.Sanitize()+` WITH LOGIN`); err != nil {
			b.Fatal(err)
		}
		return name
	}
	var plugin, raw []time.Duration
	for b.Loop() {
		b.StopTimer()
		victim, rawVictim := create(), create()
		b.StartTimer()
		start := time.Now()
		if _, err := db.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: victim}); err != nil {
			b.Fatal(err)
		}
		plugin = append(plugin, time.Since(start))
		b.StopTimer()
		start = time.Now()
		if _, err := conn.Exec(ctx, `DROP ROLE `+pgx.Identifier{rawVictim}.Sanitize()); err != nil {
			b.Fatal(err)
		}
		raw = append(raw, time.Since(start))
		b.StartTimer()
	}
	reportMedians(b, "deleteuser", plugin, "drop-role", raw)
}

// reportMedians reports two medians in milliseconds and their ratio.
func reportMedians(b *testing.B, name string, got []time.Duration, baseName string, base []time.Duration) {
	b.Helper()
	m, mb := median(got), median(base)
	b.ReportMetric(float64(m)/1e6, name+"-median-ms")
	b.ReportMetric(float64(mb)/1e6, baseName+"-median-ms")
	if mb > 0 {
		b.ReportMetric(float64(m)/float64(mb), "ratio")
	}
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
