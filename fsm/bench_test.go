package fsm

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkFire runs the plugin start/stop cycle; the history ring is full after the first
// 64 events, so this is the steady state of a long-lived machine.
func BenchmarkFire(b *testing.B) {
	m, _ := New(KindPlugin, "database/pg")
	md := Meta{EventID: "01JDX0000000000000000000", Source: "nats", Time: time.Unix(1, 0)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		md.Index = uint64(i)
		if _, err := m.Fire(cycle[i%len(cycle)], md); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkFireNoop is a broadcast step_down landing on an idle instance.
func BenchmarkFireNoop(b *testing.B) {
	m, _ := New(KindPlugin, "database/pg")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Fire(EventStepDown, Meta{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFireRefused is a stale report refused.
func BenchmarkFireRefused(b *testing.B) {
	m, _ := New(KindPlugin, "database/pg")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Fire(EventStarted, Meta{}); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkNew is the cost of one machine (a mount or connection created, or restored).
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(KindPlugin, "database/pg"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotRoundTrip encodes and restores a machine with a full history.
func BenchmarkSnapshotRoundTrip(b *testing.B) {
	m, _ := New(KindPlugin, "database/pg")
	for i := range HistoryLimit {
		if _, err := m.Fire(cycle[i%len(cycle)], Meta{EventID: "e", Source: "api", Index: uint64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		buf, err := json.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		var r Machine
		if err := json.Unmarshal(buf, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot is a full machine's Snapshot (what a caller saving an undo point pays).
func BenchmarkSnapshot(b *testing.B) {
	m, _ := New(KindConnection, "database/pg")
	for i := range HistoryLimit {
		if _, err := m.Fire([]Event{EventUpdate, EventReset}[i%2], Meta{Index: uint64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Snapshot()
	}
}
