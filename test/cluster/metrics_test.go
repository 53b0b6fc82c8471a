package cluster

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/telemetry"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

// metricsTelemetry is the telemetry of the metrics tests: Prometheus on, no host name in the
// gauges' names, gauges set every 100 ms.
func metricsTelemetry() *telemetry.Config {
	return &telemetry.Config{PrometheusRetention: time.Hour, DisableHostname: true, CollectInterval: 100 * time.Millisecond}
}

// getMetrics sends GET sys/metrics with token ("" for none) and returns the status, content
// type and body.
func getMetrics(t *testing.T, m *Member, query, token string) (int, string, []byte) {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	req, err := http.NewRequestWithContext(ctx, "GET", m.Cfg.Core.APIAddr+"/v1/sys/metrics"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// scrape reads sys/metrics?format=prometheus as Prometheus would and parses it with the
// Prometheus text parser.
func scrape(t *testing.T, m *Member, token string) promFamilies {
	t.Helper()
	status, ct, body := getMetrics(t, m, "?format=prometheus", token)
	if status != http.StatusOK || !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("sys/metrics?format=prometheus: %d %s: %s", status, ct, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the Prometheus text does not parse: %v", err)
	}
	return mfs
}

type promFamilies map[string]*dto.MetricFamily

// find returns the first metric of the family whose labels include want.
func (f promFamilies) find(name string, want map[string]string) *dto.Metric {
	mf := f[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is a counter's or gauge's value, a summary's count; 0 when absent.
func (f promFamilies) value(name string, labels map[string]string) float64 {
	m := f.find(name, labels)
	switch {
	case m == nil:
		return 0
	case m.Summary != nil:
		return float64(m.Summary.GetSampleCount())
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// TestMetricsAfterCredsRenewRevoke issues creds, renews one lease and revokes two on a real
// node (Raft over TCP, NATS, the test plugin's process), then reads sys/metrics as Prometheus
// would: OpenBao's database series count exactly the plugin calls the test caused, the
// lifecycle series the one cold start, raft's own series are there, and the gauges say one
// plugin process and one lease left. The JSON format parses with OpenBao's shape, and the
// endpoint refuses a caller without the token.
func TestMetricsAfterCredsRenewRevoke(t *testing.T) {
	c := New(t, 1, Options{Telemetry: metricsTelemetry()})
	a := c.Active()
	setupDB(t, c, a)
	ctx := testutil.Context(t, 60*time.Second)
	before := scrape(t, a, c.Token)

	const creds = 3
	var leases []string
	for range creds {
		r := a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
		leases = append(leases, r.Body["lease_id"].(string))
	}
	a.Client.Must(t, ctx, "PUT", "sys/leases/renew", map[string]any{"lease_id": leases[0]})
	for _, id := range leases[1:] {
		a.Client.Must(t, ctx, "PUT", "sys/leases/revoke", map[string]any{"lease_id": id})
	}
	after := scrape(t, a, c.Token)

	delta := func(name string, labels map[string]string) float64 {
		return after.value(name, labels) - before.value(name, labels)
	}
	exact := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		// OpenBao's names: database.<op> and database.<type>.<op> (type "baton-test").
		{"vault_database_NewUser", nil, creds},
		{"vault_database_baton_test_NewUser", nil, creds},
		{"vault_database_UpdateUser", nil, 1}, // the renewal
		{"vault_database_DeleteUser", nil, creds - 1},
		{"vault_database_baton_test_DeleteUser", nil, creds - 1},
		{"vault_database_NewUser_error", nil, 0},
		{"vault_database_DeleteUser_error", nil, 0},
		// The first creds found the instance cold: one start, recorded request → started.
		{"vault_baton_plugin_cold_start", map[string]string{"plugin": "baton-test-plugin"}, 1},
		{"vault_baton_lifecycle_transition", map[string]string{"kind": "plugin", "event": "request", "source": "internal"}, 1},
		{"vault_baton_lifecycle_transition", map[string]string{"kind": "plugin", "event": "started", "source": "internal"}, 1},
		{"vault_database_Initialize", nil, 1},
	}
	for _, e := range exact {
		if got := delta(e.name, e.labels); got != e.want {
			t.Errorf("%s%v went up by %v, want %v", e.name, e.labels, got, e.want)
		}
	}
	if got := delta("vault_raft_apply", nil); got < creds+1+creds-1 {
		t.Errorf("vault_raft_apply went up by %v: want at least one commit per lease write (%d)", got, 2*creds)
	}
	for _, name := range []string{"vault_raft_commitTime", "vault_core_unsealed", "go_goroutines"} {
		if after[name] == nil {
			t.Errorf("no %s series", name)
		}
	}

	// Gauges come from the telemetry loop.
	testutil.Eventually(t, 30*time.Second, "one plugin process, one lease left on database/, active and unsealed", func() bool {
		f := scrape(t, a, c.Token)
		leases := 0.0
		if mf := f["vault_baton_expire_leases"]; mf != nil {
			for _, m := range mf.Metric {
				for _, l := range m.GetLabel() {
					if l.GetName() == "mount" && strings.Trim(l.GetValue(), "/") == "database" {
						leases = m.GetGauge().GetValue()
					}
				}
			}
		}
		return f.value("vault_baton_plugin_processes", map[string]string{"plugin": "baton-test-plugin"}) == 1 &&
			leases == 1 && f.value("vault_expire_num_leases", nil) == 1 &&
			f.value("vault_core_unsealed", nil) == 1 && f.value("vault_core_active", nil) == 1
	})

	// JSON, OpenBao's default format.
	status, ct, body := getMetrics(t, a, "", c.Token)
	var sum map[string]json.RawMessage
	if err := json.Unmarshal(body, &sum); status != http.StatusOK || ct != "application/json" || err != nil {
		t.Fatalf("sys/metrics JSON: %d %s %v: %s", status, ct, err, body)
	}
	for _, k := range []string{"Timestamp", "Gauges", "Counters", "Samples"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("JSON summary has no %s: %s", k, body)
		}
	}

	// Without the option, a token is needed: none and a wrong one are refused alike.
	for _, tok := range []string{"", "hvs.not-the-token"} {
		if status, _, body := getMetrics(t, a, "?format=prometheus", tok); status != http.StatusForbidden {
			t.Errorf("sys/metrics with token %q: %d, want 403: %s", tok, status, body)
		}
	}
}

// TestMetricsUnauthenticatedAccess: with the listener's unauthenticated_metrics_access, a
// scraper without a token reads sys/metrics, and only sys/metrics: the rest of the API still
// refuses it.
func TestMetricsUnauthenticatedAccess(t *testing.T) {
	c := New(t, 1, Options{Telemetry: metricsTelemetry(), UnauthenticatedMetricsAccess: true})
	a := c.Active()
	f := scrape(t, a, "")
	if f["vault_raft_apply"] == nil {
		t.Error("no raft series in an unauthenticated scrape")
	}
	ctx := testutil.Context(t, 30*time.Second)
	anon := &testutil.Client{Addr: a.Cfg.Core.APIAddr}
	for _, p := range []string{"sys/mounts", "sys/lifecycle", "sys/policies/acl?list=true"} {
		r, err := anon.Do(ctx, "GET", p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusForbidden {
			t.Errorf("GET %s without a token: %d, want 403", p, r.Status)
		}
	}

	// OpenBao's core series: a step-down, a seal (the sealed node still answers for itself),
	// an unseal.
	a.Client.Must(t, ctx, "PUT", "sys/step-down", nil)
	testutil.Eventually(t, 30*time.Second, "the step-down measured", func() bool {
		return scrape(t, a, "").value("vault_core_step_down", nil)-f.value("vault_core_step_down", nil) == 1
	})
	testutil.Eventually(t, 30*time.Second, "active again (a single node cannot hand over)", func() bool { return a.S.Node.IsActive() })
	a.Client.Must(t, ctx, "PUT", "sys/seal", nil)
	testutil.Eventually(t, 30*time.Second, "the seal measured, the node sealed", func() bool {
		g := scrape(t, a, "")
		return g.value("vault_core_seal", nil)-f.value("vault_core_seal", nil) == 1 && g.value("vault_core_unsealed", nil) == 0
	})
	a.Client.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": c.Key})
	testutil.Eventually(t, 30*time.Second, "the unseal measured, the node unsealed", func() bool {
		g := scrape(t, a, "")
		return g.value("vault_core_unseal", nil)-f.value("vault_core_unseal", nil) == 1 && g.value("vault_core_unsealed", nil) == 1
	})
}

// TestMetricsEvents: events taken on both paths, a replayed event counted as deduplicated
// (and applied once), and an event over the intake limit counted as refused.
func TestMetricsEvents(t *testing.T) {
	c := New(t, 1, Options{Telemetry: metricsTelemetry(), EventLimit: events.Limit{Rate: 0.001, Burst: 3}})
	a := c.Active()
	setupDB(t, c, a)
	ctx := testutil.Context(t, 60*time.Second)
	op := natsConn(t, c)
	before := scrape(t, a, c.Token)
	delta := func(f promFamilies, name string, labels map[string]string) float64 {
		return f.value(name, labels) - before.value(name, labels)
	}
	inject := map[string]string{"kind": "reload", "path": "inject"}

	i1, err := events.InjectSync(ctx, op, c.Name, reloadEvent("metrics-1"), events.WithToken(c.Token))
	if err != nil {
		t.Fatal(err)
	}
	// The same event again, as a replay: taken, found applied, applied once.
	i2, err := events.InjectSync(ctx, op, c.Name, reloadEvent("metrics-1"), events.WithToken(c.Token))
	if err != nil || i2 != i1 {
		t.Fatalf("replay: index %d (first %d), %v", i2, i1, err)
	}
	if err := events.Inject(ctx, op, c.Name, reloadEvent("metrics-2"), events.WithToken(c.Token)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "the streamed event applied", func() bool { return applied(a, "metrics-2") })
	// The bucket (3) is spent: the next is refused.
	if _, err := events.InjectSync(ctx, op, c.Name, reloadEvent("metrics-3"), events.WithToken(c.Token)); err == nil {
		t.Fatal("an event over the intake limit was taken")
	}

	var f promFamilies
	testutil.Eventually(t, 20*time.Second, "the stream's ack counted", func() bool {
		f = scrape(t, a, c.Token)
		return delta(f, "vault_baton_events_taken", map[string]string{"kind": "reload", "path": "stream"}) == 1
	})
	for _, e := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"vault_baton_events_taken", inject, 2},
		{"vault_baton_events_refused", inject, 1},
		{"vault_baton_events_deduplicated", map[string]string{"source": "nats"}, 1},
	} {
		if got := delta(f, e.name, e.labels); got != e.want {
			t.Errorf("%s%v went up by %v, want %v", e.name, e.labels, got, e.want)
		}
	}
	if applied(a, "metrics-3") {
		t.Error("the refused event was applied")
	}
}

// TestMetricsPostgreSQL: the same database series with the PostgreSQL plugin against a real
// server (type "postgresql"), a lease that expires counted as revoked by the expiry loop, and
// a rotation left pending counted by the rollback gauges.
func TestMetricsPostgreSQL(t *testing.T) {
	pg := pgtest.Start(t)
	// The rollback waits ten minutes: the pending entry stays for the gauges to see.
	c := New(t, 1, Options{Telemetry: metricsTelemetry(), RollbackMinAge: 10 * time.Minute, RollbackWindow: 10 * time.Minute})
	a := c.Active()
	s := setupPG(t, c, a, pg)
	ctx := testutil.Context(t, 2*time.Minute)
	before := scrape(t, a, c.Token)
	delta := func(f promFamilies, name string, labels map[string]string) float64 {
		return f.value(name, labels) - before.value(name, labels)
	}

	var leases []string
	for range 2 {
		r := a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
		leases = append(leases, r.Body["lease_id"].(string))
	}
	a.Client.Must(t, ctx, "PUT", "sys/leases/renew", map[string]any{"lease_id": leases[0]})
	a.Client.Must(t, ctx, "PUT", "sys/leases/revoke", map[string]any{"lease_id": leases[1]})
	// A lease of one second, revoked by the expiry loop.
	a.Client.Must(t, ctx, "POST", "database/roles/ro", map[string]any{"db_name": "pg", "default_ttl": "1s", "max_ttl": "24h"})
	a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	var f promFamilies
	testutil.Eventually(t, 30*time.Second, "the expired lease revoked", func() bool {
		f = scrape(t, a, c.Token)
		return delta(f, "vault_baton_expire_revoked", map[string]string{"mount": "database/"}) == 1
	})
	for _, e := range []struct {
		name string
		want float64
	}{
		{"vault_database_postgresql_NewUser", 3},
		{"vault_database_postgresql_UpdateUser", 1},
		{"vault_database_postgresql_DeleteUser", 2}, // one revoked by hand, one expired
		{"vault_database_postgresql_NewUser_error", 0},
		{"vault_database_postgresql_DeleteUser_error", 0},
	} {
		if got := delta(f, e.name, nil); got != e.want {
			t.Errorf("%s went up by %v, want %v", e.name, got, e.want)
		}
	}

	// A rotation cut short: its WAL entry waits, and the gauges say so.
	interruptRotation(t, ctx, a, s, hexID(12), "")
	testutil.Eventually(t, 30*time.Second, "one rollback entry pending, its age counted", func() bool {
		f := scrape(t, a, c.Token)
		return f.value("vault_baton_rollback_pending", nil) == 1 && f.value("vault_baton_rollback_oldest_age_seconds", nil) > 0
	})
}

// TestMetricsRaftReplication: on a 3-node cluster raft's replication series reach the sinks
// (the leader's last contact with its followers, its AppendEntries), as OpenBao's dashboards
// read them. (In one process every node's sinks see every node's emissions: go-metrics is
// process-wide; a real node process reports its own.)
func TestMetricsRaftReplication(t *testing.T) {
	c := New(t, 3, Options{Telemetry: metricsTelemetry()})
	a := c.Active()
	setupDB(t, c, a)
	testutil.Eventually(t, 30*time.Second, "raft's replication series", func() bool {
		f := scrape(t, a, c.Token)
		return f["vault_raft_leader_lastContact"] != nil && f["vault_raft_commitTime"] != nil && f.value("vault_raft_apply", nil) > 0
	})
}
