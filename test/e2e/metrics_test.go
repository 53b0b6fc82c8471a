package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// scrapeNode reads a node's sys/metrics?format=prometheus without a token, as a scraper
// configured for unauthenticated_metrics_access does, and parses it with Prometheus' parser.
func scrapeNode(t *testing.T, ctx context.Context, n *harness.Node) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", n.APIAddr+"/v1/sys/metrics?format=prometheus", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("sys/metrics without a token: %d %v: %s", resp.StatusCode, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus text does not parse: %v", err)
	}
	return mfs
}

// seriesValue is a summary's count, a counter's or a gauge's value of the first series whose
// labels include want; 0 when absent.
func seriesValue(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
next:
	for _, m := range mf.Metric {
		for k, v := range want {
			ok := false
			for _, l := range m.GetLabel() {
				ok = ok || (l.GetName() == k && l.GetValue() == v)
			}
			if !ok {
				continue next
			}
		}
		switch mf.GetType() {
		case dto.MetricType_SUMMARY:
			return float64(m.GetSummary().GetSampleCount())
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestMetricsFromConfigFile: a node process configured by its HCL file with a telemetry
// stanza (Prometheus retention, no host name, unauthenticated access) serves sys/metrics to a
// scraper without a token; after creds, a renewal and a revocation against real PostgreSQL the
// database series count exactly those calls, and the process and lifecycle series are there.
func TestMetricsFromConfigFile(t *testing.T) {
	c := harness.Start(t, harness.Options{Nodes: 1, Postgres: true, PerformanceMultiplier: testMultiplier, ExtraConfig: `
telemetry {
  prometheus_retention_time      = "1h"
  disable_hostname               = true
  unauthenticated_metrics_access = true
}
`})
	c.SetupPGDB(t)
	ctx := testutil.Context(t, 3*callTimeout)
	n := c.WaitActive(t, nil, failoverTimeout)
	cl := n.Client
	before := scrapeNode(t, ctx, n)
	delta := func(after map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
		return seriesValue(after, name, labels) - seriesValue(before, name, labels)
	}

	_, _, lease1 := creds(t, ctx, cl, harness.PGRole)
	_, _, lease2 := creds(t, ctx, cl, harness.PGRole)
	cl.Must(t, ctx, "PUT", "sys/leases/renew", map[string]any{"lease_id": lease1})
	cl.Must(t, ctx, "PUT", "sys/leases/revoke", map[string]any{"lease_id": lease2})
	after := scrapeNode(t, ctx, n)
	for _, e := range []struct {
		name string
		want float64
	}{
		{"vault_database_NewUser", 2},
		{"vault_database_postgresql_NewUser", 2},
		{"vault_database_UpdateUser", 1},
		{"vault_database_DeleteUser", 1},
		{"vault_database_NewUser_error", 0},
	} {
		if got := delta(after, e.name, nil); got != e.want {
			t.Errorf("%s went up by %v, want %v", e.name, got, e.want)
		}
	}
	if seriesValue(after, "vault_baton_lifecycle_transition", map[string]string{"kind": "plugin", "event": "started"}) < 1 {
		t.Error("no plugin started transition counted")
	}
	for _, name := range []string{"vault_raft_apply", "vault_raft_commitTime", "process_resident_memory_bytes"} {
		if after[name] == nil {
			t.Errorf("no %s series", name)
		}
	}
	testutil.Eventually(t, 30*time.Second, "one PostgreSQL plugin process", func() bool {
		return seriesValue(scrapeNode(t, ctx, n), "vault_baton_plugin_processes", map[string]string{"plugin": "baton-postgresql-plugin"}) == 1
	})

	// The JSON format, and the rest of the API still closed without a token.
	anon := &testutil.Client{Addr: n.APIAddr}
	r, err := anon.Do(ctx, "GET", "sys/metrics", nil)
	if err != nil || r.Status != http.StatusOK || !strings.Contains(r.Raw, `"Samples"`) {
		t.Fatalf("sys/metrics JSON: %d %v: %.300s", r.Status, err, r.Raw)
	}
	var sum map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.Raw), &sum); err != nil || sum["Timestamp"] == nil || sum["Counters"] == nil {
		t.Errorf("JSON summary: %v: %.300s", err, r.Raw)
	}
	if r, err := anon.Do(ctx, "GET", harness.Mount+"/creds/"+harness.PGRole, nil); err != nil || r.Status != http.StatusForbidden {
		t.Errorf("creds without a token: %d %v, want 403", r.Status, err)
	}
}
