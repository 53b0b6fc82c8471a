package plugins

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/baton-hq/baton/internal/telemetry"
	"github.com/baton-hq/baton/test/testutil"
)

// promValue reads one series from the telemetry's Prometheus text: a summary's count, a
// counter's or gauge's value; 0 when absent.
func promValue(t *testing.T, tel *telemetry.Telemetry, name, plugin string) float64 {
	t.Helper()
	_, body, err := tel.Metrics(telemetry.FormatPrometheus)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("prometheus text: %v", err)
	}
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	for _, m := range mf.Metric {
		if plugin != "" {
			match := false
			for _, l := range m.GetLabel() {
				match = match || (l.GetName() == "plugin" && l.GetValue() == plugin)
			}
			if !match {
				continue
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

// TestPoolMetrics: the pool's calls to a real plugin process are counted under OpenBao's
// database.<op> and database.<type>.<op> names, the process gauge follows the process, and a
// SIGKILL followed by a call counts one restart.
func TestPoolMetrics(t *testing.T) {
	tel, err := telemetry.New(telemetry.Config{PrometheusRetention: time.Hour, DisableHostname: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tel.Close)
	h := newHarness(t, "", nil)
	c := h.open(t, "c1", testPlugin(t).Entry("tp", ""))
	for range 2 {
		if _, err := c.NewUser(ctxT(t), newUserReq()); err != nil {
			t.Fatal(err)
		}
	}
	h.pool.EmitMetrics()
	checks := func(when string, want map[[2]string]float64) {
		t.Helper()
		for k, v := range want {
			if got := promValue(t, tel, k[0], k[1]); got != v {
				t.Errorf("%s: %s{plugin=%q} = %v, want %v", when, k[0], k[1], got, v)
			}
		}
	}
	checks("after open and two NewUser", map[[2]string]float64{
		{"vault_database_Initialize", ""}: 1, {"vault_database_baton_test_Initialize", ""}: 1,
		{"vault_database_NewUser", ""}: 2, {"vault_database_baton_test_NewUser", ""}: 2,
		{"vault_database_NewUser_error", ""}:   0,
		{"vault_baton_plugin_processes", "tp"}: 1, {"vault_baton_plugin_restarts", "tp"}: 0,
	})

	pid := c.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid, 10*time.Second)
	if _, err := c.NewUser(ctxT(t), newUserReq()); err != nil {
		t.Fatal(err)
	}
	checks("after a SIGKILL and a call", map[[2]string]float64{
		{"vault_database_Initialize", ""}: 2, {"vault_database_NewUser", ""}: 3,
		{"vault_baton_plugin_restarts", "tp"}: 1,
	})

	newPID := c.PID()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitGone(t, newPID, 10*time.Second)
	testutil.Eventually(t, 10*time.Second, "the process gauge back to 0", func() bool {
		h.pool.EmitMetrics()
		return promValue(t, tel, "vault_baton_plugin_processes", "tp") == 0
	})
	checks("after Close", map[[2]string]float64{{"vault_database_Close", ""}: 1, {"vault_database_Close_error", ""}: 0})
}
