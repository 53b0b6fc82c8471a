package core

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// fillLeases gives a node's state a database mount and n leases, 1000 per Raft entry.
func fillLeases(tb testing.TB, ctx context.Context, n *Node, count int) {
	tb.Helper()
	if _, err := n.Propose(ctx, state.TypeMountPut, "", command.SourceAPI, state.MountPut{Mount: state.Mount{Path: "database", Type: "database"}}); err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC()
	for i := 0; i < count; i += 1000 {
		var b state.Batch
		for j := i; j < min(i+1000, count); j++ {
			c, err := command.New(state.TypeLeasePut, fmt.Sprintf("lease-put-%d", j), command.SourceAPI, now, state.LeasePut{Lease: state.Lease{
				ID: fmt.Sprintf("database/creds/ro/%024d", j), Mount: "database", Role: "ro", DBName: "pg",
				Username: fmt.Sprintf("v-root-ro-%020d", j), Issued: now, Expires: now.Add(time.Hour), MaxExpires: now.Add(24 * time.Hour),
				Renewable: true, TTL: time.Hour,
			}})
			if err != nil {
				tb.Fatal(err)
			}
			b.Commands = append(b.Commands, c)
		}
		c, err := command.New(state.TypeBatch, fmt.Sprintf("batch-%d", i), command.SourceAPI, now, b)
		if err != nil {
			tb.Fatal(err)
		}
		if _, _, err := n.Store().Apply(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
	var got int
	n.state.View(func(d *state.Data) { got = len(d.Leases) })
	if got != count {
		tb.Fatalf("state holds %d leases, want %d", got, count)
	}
}

// BenchmarkSnapshot100kLeases times saving (GET sys/storage/raft/snapshot's work: raft
// snapshot, archive, seal) and restoring (check, open, raft.Restore, re-activation) a state
// with 100k leases on a single node, and reports the archive's size.
func BenchmarkSnapshot100kLeases(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	n, err := New(Config{NodeID: "n1", DataDir: b.TempDir(), RaftBind: freeAddr(b), APIAddr: "http://127.0.0.1:1", NoNATS: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Shutdown(context.Background()) })
	if _, err := n.Init(ctx, "root"); err != nil {
		b.Fatal(err)
	}
	fillLeases(b, ctx, n, 100_000)
	var snap bytes.Buffer
	if err := n.SaveSnapshot(ctx, &snap); err != nil {
		b.Fatal(err)
	}
	// The baselines, in the same run: encoding and decoding the state's snapshot body, which
	// every Raft snapshot and restore does (raft's own ones included) whatever the archive,
	// in format 2 (what Snapshot writes) and in format 1 (the whole state as one JSON
	// document, what it wrote before; Restore still reads it).
	raw, err := n.state.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	var v1 []byte
	n.state.View(func(d *state.Data) { v1, err = json.Marshal(d) })
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range []struct {
		name string
		body []byte
		enc  func() error
	}{
		{"format-1", v1, func() (err error) { n.state.View(func(d *state.Data) { _, err = json.Marshal(d) }); return err }},
		{"format-2", raw, func() error { _, err := n.state.Snapshot(); return err }},
	} {
		b.Run("baseline-state-encode-"+f.name, func(b *testing.B) {
			cpu := processCPU()
			for b.Loop() {
				if err := f.enc(); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(len(f.body)), "state-bytes")
		})
		b.Run("baseline-state-decode-"+f.name, func(b *testing.B) {
			cpu := processCPU()
			for b.Loop() {
				if err := state.New().Restore(bytes.NewReader(f.body)); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		})
	}
	b.Run("save", func(b *testing.B) {
		cpu := processCPU()
		for b.Loop() {
			snap.Reset()
			if err := n.SaveSnapshot(ctx, &snap); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(snap.Len()), "archive-bytes")
	})
	b.Run("restore", func(b *testing.B) {
		cpu := processCPU()
		for b.Loop() {
			if err := n.RestoreSnapshot(ctx, bytes.NewReader(snap.Bytes()), false); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
		var got int
		n.state.View(func(d *state.Data) { got = len(d.Leases) })
		if got != 100_000 {
			b.Fatalf("restored state holds %d leases", got)
		}
	})
}

// reportCPU reports the process's CPU time per iteration since start (all goroutines: raft's,
// the GC's), the figure that does not grow with other processes' load.
func reportCPU(b *testing.B, start time.Duration) {
	b.Helper()
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	}
}
