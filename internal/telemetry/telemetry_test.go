package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// parseProm parses a Prometheus text body as a scraper would.
func parseProm(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("prometheus text does not parse: %v\n%s", err, body)
	}
	return mfs
}

func newTel(t *testing.T, cfg Config) *Telemetry {
	t.Helper()
	tel, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tel.Close)
	return tel
}

// label returns the value of a metric's label.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestPrometheusAndJSON(t *testing.T) {
	tel := newTel(t, Config{PrometheusRetention: time.Hour, DisableHostname: true})
	for range 3 {
		metrics.MeasureSince([]string{"database", "NewUser"}, time.Now().Add(-time.Millisecond))
	}
	metrics.IncrCounter([]string{"database", "NewUser", "error"}, 1)
	metrics.IncrCounterWithLabels([]string{"baton", "lifecycle", "transition"}, 2, []metrics.Label{{Name: "kind", Value: "plugin"}, {Name: "source", Value: "api"}})
	metrics.SetGaugeWithLabels([]string{"baton", "plugin", "processes"}, 1, []metrics.Label{{Name: "plugin", Value: "pg"}})

	ct, body, err := tel.Metrics(FormatPrometheus)
	if err != nil {
		t.Fatal(err)
	}
	if ct != string(expfmt.NewFormat(expfmt.TypeTextPlain)) {
		t.Errorf("content type %q", ct)
	}
	mfs := parseProm(t, body)
	if s := mfs["vault_database_NewUser"]; s == nil || s.GetType() != dto.MetricType_SUMMARY || s.Metric[0].GetSummary().GetSampleCount() != 3 {
		t.Errorf("vault_database_NewUser: want a summary of 3 samples, got %v", s)
	}
	if c := mfs["vault_database_NewUser_error"]; c == nil || c.Metric[0].GetCounter().GetValue() != 1 {
		t.Errorf("vault_database_NewUser_error: want counter 1, got %v", c)
	}
	tr := mfs["vault_baton_lifecycle_transition"]
	if tr == nil || tr.Metric[0].GetCounter().GetValue() != 2 || label(tr.Metric[0], "kind") != "plugin" || label(tr.Metric[0], "source") != "api" {
		t.Errorf("transition counter with labels: %v", tr)
	}
	// disable_hostname: the gauge's name has no host in it.
	if g := mfs["vault_baton_plugin_processes"]; g == nil || g.Metric[0].GetGauge().GetValue() != 1 || label(g.Metric[0], "plugin") != "pg" {
		t.Errorf("gauge without hostname: %v", g)
	}
	if mfs["go_goroutines"] == nil {
		t.Error("no go_goroutines: the Go collector is missing")
	}

	ct, body, err = tel.Metrics(FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Timestamp string
		Gauges    []struct{ Name string }
		Counters  []struct {
			Name  string
			Count int
		}
		Samples []struct {
			Name  string
			Count int
		}
	}
	if err := json.Unmarshal(body, &sum); err != nil || ct != "application/json" {
		t.Fatalf("JSON (%s): %v\n%s", ct, err, body)
	}
	found := false
	for _, s := range sum.Samples {
		if s.Name == "vault.database.NewUser" && s.Count == 3 {
			found = true
		}
	}
	if sum.Timestamp == "" || !found {
		t.Errorf("JSON summary lacks the samples: %s", body)
	}
}

func TestFormats(t *testing.T) {
	tel := newTel(t, Config{})
	metrics.IncrCounter([]string{"x"}, 1)
	if _, _, err := tel.Metrics(FormatPrometheus); !errors.Is(err, ErrPrometheusDisabled) {
		t.Errorf("prometheus with retention 0: %v, want ErrPrometheusDisabled", err)
	}
	if _, _, err := tel.Metrics("xml"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("format xml: %v, want ErrUnknownFormat", err)
	}
	if _, err := New(Config{PrometheusRetention: -time.Second}); err == nil {
		t.Error("negative retention accepted")
	}
}

// Two nodes in one process both see what the process emits, and a closed one's sinks stop
// receiving while the other's go on.
func TestProcessFanout(t *testing.T) {
	a := newTel(t, Config{PrometheusRetention: time.Hour, DisableHostname: true})
	b := newTel(t, Config{PrometheusRetention: time.Hour, DisableHostname: true})
	count := func(tel *Telemetry) float64 {
		_, body, err := tel.Metrics(FormatPrometheus)
		if err != nil {
			t.Fatal(err)
		}
		c := parseProm(t, body)["vault_fanout_test"]
		if c == nil {
			return 0
		}
		return c.Metric[0].GetCounter().GetValue()
	}
	metrics.IncrCounter([]string{"fanout", "test"}, 1)
	if count(a) != 1 || count(b) != 1 {
		t.Fatalf("after one emission: a=%v b=%v, want 1 and 1", count(a), count(b))
	}
	a.Close()
	metrics.IncrCounter([]string{"fanout", "test"}, 1)
	if count(a) != 1 || count(b) != 2 {
		t.Errorf("after closing a: a=%v b=%v, want 1 and 2", count(a), count(b))
	}
}

func TestCollectorsRunOnTheLoop(t *testing.T) {
	tel := newTel(t, Config{PrometheusRetention: time.Hour, DisableHostname: true, CollectInterval: 10 * time.Millisecond})
	calls := make(chan struct{}, 100)
	tel.AddCollector(func() {
		select {
		case calls <- struct{}{}:
		default:
		}
	})
	deadline := time.After(30 * time.Second)
	for n := 0; n < 3; n++ {
		select {
		case <-calls:
		case <-deadline:
			t.Fatalf("collector ran %d times in 30 s", n)
		}
	}
	tel.Close()
	tel.Close() // idempotent
}

// BenchmarkEmit is the cost of one emission of each kind the creds path makes (a duration, a
// labelled counter), with a node's sinks attached (in-memory and Prometheus) and with none.
//
//	go test -run '^$' -bench Emit ./internal/telemetry/
func BenchmarkEmit(b *testing.B) {
	labels := []metrics.Label{{Name: "kind", Value: "plugin"}, {Name: "event", Value: "started"}, {Name: "source", Value: "internal"}}
	emit := func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			metrics.MeasureSince([]string{"database", "NewUser"}, start)
			metrics.IncrCounterWithLabels([]string{"baton", "lifecycle", "transition"}, 1, labels)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2, "ns/emission")
	}
	b.Run("sinks", func(b *testing.B) {
		tel, err := New(DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		defer tel.Close()
		emit(b)
	})
	b.Run("none", emit)
}
