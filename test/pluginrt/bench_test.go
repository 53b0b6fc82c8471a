package pluginrt

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/baton-hq/baton/plugins"
	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/plugins/testplugin"
	"github.com/baton-hq/baton/test/pluginrt/pluginbin"
)

// The benchmarks of issue 2. Run them without -race, e.g.
//
//	go test -run '^$' -bench . -benchtime 200x ./test/pluginrt/
//
// Each reports its figures through b.ReportMetric: medians and p99 of individually timed
// operations, and memory sums from /proc/<pid>/smaps_rollup.

func newUserRequest() dbplugin.NewUserRequest {
	return dbplugin.NewUserRequest{
		UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "bench", RoleName: "role"},
		Password:       "Bench-password-1",
		Expiration:     time.Now().Add(time.Hour),
	}
}

func emptyInit() dbplugin.InitializeRequest {
	return dbplugin.InitializeRequest{Config: map[string]interface{}{}}
}

// reportLatency reports the median and p99 of ds in the unit that suits them.
func reportLatency(b *testing.B, ds []time.Duration, prefix string) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(float64(len(ds))*p))] }
	b.ReportMetric(float64(q(0.5))/1e3, prefix+"median-µs")
	b.ReportMetric(float64(q(0.99))/1e3, prefix+"p99-µs")
}

// BenchmarkColdStart times a connection's cold start to its first answered call (start,
// handshake with AutoMTLS, Initialize, NewUser), beside a plain exec of the same binary that
// exits at once (go-plugin's Serve exits when the handshake cookie is missing).
func BenchmarkColdStart(b *testing.B) {
	bin := binary(b, pluginbin.TestPlugin)
	b.Run("plugin-open-to-first-call", func(b *testing.B) {
		pool := newPool(b, nil)
		e := bin.Entry("tp", "")
		ds := make([]time.Duration, 0, b.N)
		ctx := testContext(b)
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			c, _, err := pool.Open(ctx, "c"+strconv.Itoa(i), e, emptyInit())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.NewUser(ctx, newUserRequest()); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
			b.StopTimer()
			if err := c.Close(); err != nil { // the last connection: the process ends
				b.Fatal(err)
			}
			b.StartTimer()
		}
		reportLatency(b, ds, "")
	})
	b.Run("plain-exec", func(b *testing.B) {
		ds := make([]time.Duration, 0, b.N)
		for range b.N {
			start := time.Now()
			cmd := exec.Command(bin.Path)
			cmd.Env = []string{}
			_ = cmd.Run() // exits 1: "This binary is a plugin..."
			ds = append(ds, time.Since(start))
		}
		reportLatency(b, ds, "")
	})
}

// BenchmarkNewUser times one NewUser of the test plugin: through a plugin process (gRPC over
// a Unix socket with AutoMTLS), through gRPC inside this process (loopback TCP, no TLS), and
// as a plain method call on the same Database.
func BenchmarkNewUser(b *testing.B) {
	bin := binary(b, pluginbin.TestPlugin)
	run := func(b *testing.B, db dbplugin.Database) {
		b.Helper()
		ctx := testContext(b)
		ds := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			if _, err := db.NewUser(ctx, newUserRequest()); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		b.StopTimer()
		reportLatency(b, ds, "")
	}
	b.Run("plugin-process", func(b *testing.B) {
		pool := newPool(b, nil)
		c, _, err := pool.Open(testContext(b), "c", bin.Entry("tp", ""), emptyInit())
		if err != nil {
			b.Fatal(err)
		}
		run(b, c)
	})
	b.Run("same-process-grpc", func(b *testing.B) {
		// The plugin's gRPC services and the host's client, joined by go-plugin's loopback
		// test connection (TCP on 127.0.0.1, no TLS) inside this process.
		cfg, err := dbplugin.ServeConfigMultiplex(testplugin.Factory(testplugin.DefaultKnobs()))
		if err != nil {
			b.Fatal(err)
		}
		serverSide := cfg.VersionedPlugins[dbplugin.ProtocolMultiplexed][dbplugin.PluginName].(plugin.GRPCPlugin)
		cc, server := plugin.TestGRPCConn(b, func(s *grpc.Server) {
			if err := serverSide.GRPCServer(nil, s); err != nil {
				b.Fatal(err)
			}
		})
		b.Cleanup(func() {
			_ = cc.Close()
			server.Stop()
		})
		hostSide := dbplugin.PluginSets()[dbplugin.ProtocolMultiplexed][dbplugin.PluginName].(plugin.GRPCPlugin)
		raw, err := hostSide.GRPCClient(context.Background(), nil, cc)
		if err != nil {
			b.Fatal(err)
		}
		db := raw.(*dbplugin.Client).Database(rand.Text())
		if _, err := db.Initialize(testContext(b), emptyInit()); err != nil {
			b.Fatal(err)
		}
		run(b, db)
	})
	b.Run("in-process", func(b *testing.B) {
		db := testplugin.NewDatabase(testplugin.DefaultKnobs())
		if _, err := db.Initialize(testContext(b), emptyInit()); err != nil {
			b.Fatal(err)
		}
		run(b, db)
	})
}

// BenchmarkMemory100Connections opens 100 connections of the test plugin, multiplexed (one
// process) and not (one process each), and reports the resident memory of their processes:
// the sum of RSS (shared pages counted in every process) and of PSS (shared pages divided
// among the processes sharing them, the fairer figure).
func BenchmarkMemory100Connections(b *testing.B) {
	bin := binary(b, pluginbin.TestPlugin)
	const conns = 100
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{name: "multiplexed"},
		{name: "one-process-each", env: []string{testplugin.EnvMultiplex + "=0"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				pool := newPool(b, nil)
				ctx := testContext(b)
				e := bin.Entry("tp", "", tc.env...)
				for i := range conns {
					c, _, err := pool.Open(ctx, "c"+strconv.Itoa(i), e, emptyInit())
					if err != nil {
						b.Fatal(err)
					}
					if _, err := c.NewUser(ctx, newUserRequest()); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				procs := pool.Processes()
				var rss, pss int
				for _, p := range procs {
					r, s, err := smapsRollup(p.PID)
					if err != nil {
						b.Fatal(err)
					}
					rss += r
					pss += s
				}
				b.ReportMetric(float64(len(procs)), "processes")
				b.ReportMetric(float64(rss)/1024, "rss-MiB")
				b.ReportMetric(float64(pss)/1024, "pss-MiB")
				shutdown(b, pool)
				b.StartTimer()
			}
		})
	}
}

// shutdown stops a pool now rather than at the end of the benchmark, so that iterations do
// not pile up processes.
func shutdown(b *testing.B, pool *plugins.Pool) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pool.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
}

// smapsRollup returns a process's Rss and Pss in KiB.
func smapsRollup(pid int) (rss, pss int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		n, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Rss:":
			rss = n
		case "Pss:":
			pss = n
		}
	}
	return rss, pss, sc.Err()
}
