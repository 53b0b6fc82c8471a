// Package telemetry sets up the node's metrics as OpenBao does: hashicorp/go-metrics (through
// its compat package, the one hashicorp/raft emits through, so that raft's own metrics land
// in the same sinks) with an in-memory sink (sys/metrics' JSON) and a Prometheus sink
// (sys/metrics?format=prometheus), under OpenBao's service name "vault" by default.
//
// go-metrics is process-wide: every package emits through its global functions
// (metrics.IncrCounter, MeasureSince, …), as raft does. New installs the global once per
// Telemetry over a process-wide fan-out, and each Telemetry adds its own sinks to that
// fan-out until Close: several nodes in one process (the in-process cluster tests) then each
// see every emission of the process, and a node's sinks never stop receiving because another
// node started later.
//
// It also runs the gauge loop: gauges (plugin processes, rollback entries, leases) are set
// every CollectInterval by the collectors the assembly registers, as OpenBao's metrics loop
// does, so that the in-memory view, which shows one interval, always holds them.
//
// The package is a leaf of the project: it imports no Baton package.
package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	metrics "github.com/hashicorp/go-metrics/compat"
	metricsprom "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
)

// Defaults, OpenBao's.
const (
	// DefaultPrometheusRetention is how long the Prometheus sink keeps a metric nobody
	// updates (OpenBao's prometheus_retention_time default).
	DefaultPrometheusRetention = 24 * time.Hour
	// DefaultPrefix is the service name every metric starts with: OpenBao's, so that
	// dashboards written for it find the metrics the two share (vault_database_NewUser).
	DefaultPrefix = "vault"
	// DefaultCollectInterval is how often the gauges are set (OpenBao's metrics loop: 1 s).
	DefaultCollectInterval = time.Second
	// inmemInterval and inmemRetain are OpenBao's in-memory sink: 10 s intervals kept 1 min.
	inmemInterval = 10 * time.Second
	inmemRetain   = time.Minute
)

// Formats of Metrics.
const (
	// FormatJSON is the in-memory sink's summary (the default).
	FormatJSON = ""
	// FormatPrometheus is Prometheus' text exposition format.
	FormatPrometheus = "prometheus"
)

// Errors of Metrics; the API answers both 400, as OpenBao does.
var (
	// ErrUnknownFormat: the format is neither "" nor "prometheus".
	ErrUnknownFormat = errors.New("unknown metrics format")
	// ErrPrometheusDisabled: prometheus_retention_time is 0, so there is no Prometheus sink.
	ErrPrometheusDisabled = errors.New("prometheus is not enabled")
)

// Config is the telemetry stanza.
type Config struct {
	// PrometheusRetention is prometheus_retention_time: how long a metric nobody updates
	// stays in the Prometheus output; 0 turns the Prometheus sink off (as in OpenBao).
	PrometheusRetention time.Duration
	// DisableHostname is disable_hostname: gauges are not prefixed with the host name.
	DisableHostname bool
	// Prefix is metrics_prefix, the service name every key starts with; "" means
	// DefaultPrefix.
	Prefix string
	// CollectInterval is how often the registered gauge collectors run; 0 means
	// DefaultCollectInterval.
	CollectInterval time.Duration
}

// DefaultConfig is the stanza an absent telemetry block means.
func DefaultConfig() Config {
	return Config{PrometheusRetention: DefaultPrometheusRetention}
}

// Telemetry is one node's sinks and its gauge loop.
type Telemetry struct {
	inmem    *metrics.InmemSink
	registry *prometheus.Registry // nil when Prometheus is off
	sinks    metrics.FanoutSink

	mu         sync.Mutex
	collectors []func()
	stop       chan struct{}
	done       chan struct{}
	closeOnce  sync.Once
}

// New builds the sinks, adds them to the process-wide fan-out, points go-metrics' global at
// it with this configuration and starts the gauge loop. Close undoes all but the global.
func New(cfg Config) (*Telemetry, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.CollectInterval <= 0 {
		cfg.CollectInterval = DefaultCollectInterval
	}
	if cfg.PrometheusRetention < 0 {
		return nil, fmt.Errorf("telemetry: prometheus retention %s is negative", cfg.PrometheusRetention)
	}
	t := &Telemetry{inmem: metrics.NewInmemSink(inmemInterval, inmemRetain), stop: make(chan struct{}), done: make(chan struct{})}
	t.sinks = metrics.FanoutSink{t.inmem}
	if cfg.PrometheusRetention > 0 {
		t.registry = prometheus.NewRegistry()
		// The process's own figures (goroutines, memory, file descriptors), which OpenBao
		// gets from go-metrics' runtime metrics; the collectors start no goroutine.
		if err := t.registry.Register(collectors.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("telemetry: %w", err)
		}
		if err := t.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("telemetry: %w", err)
		}
		ps, err := metricsprom.NewPrometheusSinkFrom(metricsprom.PrometheusOpts{Expiration: cfg.PrometheusRetention, Registerer: t.registry})
		if err != nil {
			return nil, fmt.Errorf("telemetry: prometheus sink: %w", err)
		}
		t.sinks = append(t.sinks, ps)
	}
	mc := metrics.DefaultConfig(cfg.Prefix)
	mc.EnableHostname = !cfg.DisableHostname
	// go-metrics' runtime metrics run a goroutine nobody can stop; the Go collector above
	// reports the same figures.
	mc.EnableRuntimeMetrics = false
	process.add(t)
	if _, err := metrics.NewGlobal(mc, process); err != nil {
		process.remove(t)
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	go t.loop(cfg.CollectInterval)
	return t, nil
}

// AddCollector registers a function that sets gauges; the loop calls it every
// CollectInterval, and once at once.
func (t *Telemetry) AddCollector(f func()) {
	t.mu.Lock()
	t.collectors = append(t.collectors, f)
	t.mu.Unlock()
	f()
}

// Collect runs every collector now (the loop does it every CollectInterval).
func (t *Telemetry) Collect() {
	t.mu.Lock()
	cs := slices.Clone(t.collectors)
	t.mu.Unlock()
	for _, f := range cs {
		f()
	}
}

func (t *Telemetry) loop(every time.Duration) {
	defer close(t.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.Collect()
		}
	}
}

// Close stops the gauge loop and takes this Telemetry's sinks out of the process-wide
// fan-out. It is idempotent.
func (t *Telemetry) Close() {
	t.closeOnce.Do(func() {
		close(t.stop)
		<-t.done
		process.remove(t)
	})
}

// Metrics renders the metrics in format: FormatPrometheus (Prometheus text, the content type
// it returns says which version) or FormatJSON (the in-memory sink's summary: Timestamp,
// Gauges, Counters, Samples, as OpenBao's sys/metrics).
func (t *Telemetry) Metrics(format string) (contentType string, body []byte, err error) {
	switch format {
	case FormatPrometheus:
		if t.registry == nil {
			return "", nil, fmt.Errorf("%w: set telemetry { prometheus_retention_time } above 0", ErrPrometheusDisabled)
		}
		mfs, err := t.registry.Gather()
		if err != nil && len(mfs) == 0 {
			return "", nil, fmt.Errorf("telemetry: gather: %w", err)
		}
		var buf bytes.Buffer
		f := expfmt.NewFormat(expfmt.TypeTextPlain)
		enc := expfmt.NewEncoder(&buf, f)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				return "", nil, fmt.Errorf("telemetry: encode %s: %w", mf.GetName(), err)
			}
		}
		return string(f), buf.Bytes(), nil
	case FormatJSON:
		summary, err := t.inmem.DisplayMetrics(nil, nil)
		if err != nil {
			return "", nil, fmt.Errorf("telemetry: %w", err)
		}
		b, err := json.Marshal(summary)
		if err != nil {
			return "", nil, fmt.Errorf("telemetry: %w", err)
		}
		return "application/json", b, nil
	}
	return "", nil, fmt.Errorf("%w %q: use format=prometheus or leave it out for JSON", ErrUnknownFormat, format)
}

// process is the fan-out go-metrics' global points at: the sinks of every open Telemetry.
var process = &fanout{}

// fanout is a metrics.MetricSink over a set of sinks that changes as nodes start and stop.
// The set is an immutable slice swapped whole, so an emission takes no lock.
type fanout struct {
	mu    sync.Mutex // serialises add and remove
	owner []*Telemetry
	sinks atomic.Pointer[[]metrics.MetricSink]
}

func (f *fanout) add(t *Telemetry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.owner = append(f.owner, t)
	f.publish()
}

func (f *fanout) remove(t *Telemetry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.owner = slices.DeleteFunc(f.owner, func(o *Telemetry) bool { return o == t })
	f.publish()
}

// publish rebuilds the sink list; f.mu is held.
func (f *fanout) publish() {
	var s []metrics.MetricSink
	for _, o := range f.owner {
		s = append(s, o.sinks...)
	}
	f.sinks.Store(&s)
}

func (f *fanout) each(fn func(metrics.MetricSink)) {
	if p := f.sinks.Load(); p != nil {
		for _, s := range *p {
			fn(s)
		}
	}
}

func (f *fanout) SetGauge(key []string, val float32) {
	f.each(func(s metrics.MetricSink) { s.SetGauge(key, val) })
}

func (f *fanout) SetGaugeWithLabels(key []string, val float32, labels []metrics.Label) {
	f.each(func(s metrics.MetricSink) { s.SetGaugeWithLabels(key, val, labels) })
}

func (f *fanout) EmitKey(key []string, val float32) {
	f.each(func(s metrics.MetricSink) { s.EmitKey(key, val) })
}

func (f *fanout) IncrCounter(key []string, val float32) {
	f.each(func(s metrics.MetricSink) { s.IncrCounter(key, val) })
}

func (f *fanout) IncrCounterWithLabels(key []string, val float32, labels []metrics.Label) {
	f.each(func(s metrics.MetricSink) { s.IncrCounterWithLabels(key, val, labels) })
}

func (f *fanout) AddSample(key []string, val float32) {
	f.each(func(s metrics.MetricSink) { s.AddSample(key, val) })
}

func (f *fanout) AddSampleWithLabels(key []string, val float32, labels []metrics.Label) {
	f.each(func(s metrics.MetricSink) { s.AddSampleWithLabels(key, val, labels) })
}
